"""Smoothing files: ensemble member predictions in; out, the EKS trajectory (x, y, likelihood, the
columns DeepLabCut, Lightning Pose and movement read) and beside it, in ``<name>.variances.csv``,
the reference package's other columns (ensemble median and variance, posterior variance):
``movement`` refuses a CSV whose coordinates are more than x, y and likelihood."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from core.errors import LabelFormatError
from core.labels.table import PREDICTION_FIELDS, PoseTable
from core.smoothing.ensemble import EnsembleStats, ensemble_stats
from core.smoothing.fastcsv import read_pose_file, write_pose_file
from core.smoothing.multicam import smooth_multi_camera
from core.smoothing.singlecam import Smoothed, smooth_single_camera

# Per keypoint, the columns ensemble-kalman-smoother 4.x writes in one CSV (pixels; variances in
# pixels²); ``write_smoothed`` writes them as two files.
SMOOTHED_FIELDS = (
    "x",
    "y",
    "likelihood",
    "x_ens_median",
    "y_ens_median",
    "x_ens_var",
    "y_ens_var",
    "x_posterior_var",
    "y_posterior_var",
)
VARIANCE_FIELDS = SMOOTHED_FIELDS[len(PREDICTION_FIELDS) :]
SCORER = "posecloud_eks"

PoseWriter = Callable[[PoseTable, Path], Path]


def smoothed_table(stats: EnsembleStats, smoothed: Smoothed) -> PoseTable:
    """A PoseTable with ``SMOOTHED_FIELDS`` per keypoint: smoothed x/y, mean likelihood, ensemble
    median and variance, posterior variance (``write_smoothed`` writes it)."""
    values = np.concatenate(
        [smoothed.xy, stats.likelihood[..., None], stats.median, stats.variance, smoothed.posterior_var],
        axis=-1,
    )
    return PoseTable(list(stats.keypoints), list(stats.index), values, SMOOTHED_FIELDS, SCORER)


def variances_path(eks_path: str | Path) -> Path:
    """Where the variances of the EKS trajectory ``<name>.csv`` (or ``.nwb``) go: ``<name>.variances.csv``."""
    eks_path = Path(eks_path)
    return eks_path.with_name(f"{eks_path.stem}.variances.csv")


def write_smoothed(table: PoseTable, path: str | Path, write_poses: PoseWriter = write_pose_file) -> Path:
    """Write a ``smoothed_table``: its x, y, likelihood by ``write_poses`` to ``path`` (a
    DeepLabCut-style CSV unless told otherwise) and its ``VARIANCE_FIELDS`` to
    ``variances_path(path)``. Returns ``path``."""
    path = Path(path)
    write_pose_file(_fields(table, VARIANCE_FIELDS), variances_path(path))
    return write_poses(_fields(table, PREDICTION_FIELDS), path)


def read_smoothed(path: str | Path) -> PoseTable:
    """A ``smoothed_table`` as ``write_smoothed`` wrote it: the EKS CSV joined with its variances."""
    poses = read_pose_file(path)
    variances = read_pose_file(variances_path(path), required=VARIANCE_FIELDS)
    if variances.keypoints != poses.keypoints or variances.index != poses.index:
        raise LabelFormatError(
            f"{variances_path(path)} does not have the keypoints and frames of {path}; smooth the ensemble again"
        )
    values = np.concatenate(
        [_fields(poses, PREDICTION_FIELDS).values, _fields(variances, VARIANCE_FIELDS).values], axis=-1
    )
    return PoseTable(poses.keypoints, poses.index, values, SMOOTHED_FIELDS, poses.scorer)


def _fields(table: PoseTable, fields: tuple[str, ...]) -> PoseTable:
    order = [table.fields.index(f) for f in fields]
    return PoseTable(list(table.keypoints), list(table.index), table.values[..., order], fields, table.scorer)


def read_ensemble(paths: Sequence[str | Path]) -> EnsembleStats:
    """Ensemble statistics of the member prediction files ``paths`` (one video, one camera; CSV, H5
    or NWB)."""
    if not paths:
        raise LabelFormatError("no member prediction files given; pass the CSV of each ensemble member")
    return ensemble_stats([read_pose_file(p) for p in paths], [str(p) for p in paths])


def smooth_files(
    member_csvs: Sequence[str | Path],
    out_csv: str | Path,
    s: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Smooth one camera's ensemble member files into ``out_csv`` (and its variances file); ``s``
    None fits it per keypoint; ``progress(keypoints done, keypoints)``."""
    stats = read_ensemble(member_csvs)
    return write_smoothed(smoothed_table(stats, smooth_single_camera(stats, s, progress)), out_csv)


def group_by_view(files: Sequence[str | Path], views: Sequence[str]) -> dict[str, list[Path]]:
    """Assign each file to the one view whose name occurs in the file name (e.g. ``Cam-A``)."""
    if len(set(views)) != len(views) or not all(views):
        raise LabelFormatError(f"view names must be distinct and non-empty, got {list(views)}")
    groups: dict[str, list[Path]] = {v: [] for v in views}
    for file in map(Path, files):
        matches = [v for v in views if v in file.name]
        if len(matches) != 1:
            found = f"matches {matches}" if matches else "names none of them"
            raise LabelFormatError(
                f"{file.name} {found} of the views {list(views)}; each file name must contain exactly "
                "one view name"
            )
        groups[matches[0]].append(file)
    empty = [v for v, members in groups.items() if not members]
    if empty:
        raise LabelFormatError(f"no files for view(s) {empty}; each view needs its members' CSVs")
    return groups


def smooth_multicam_files(
    view_csvs: Mapping[str, Sequence[str | Path]],
    out_dir: str | Path,
    s: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Path]:
    """Smooth synchronised views together; writes ``out_dir/<view>.csv`` (and its variances file)
    per view; ``progress`` as ``smooth_multi_camera`` reports it."""
    stats = {view: read_ensemble(paths) for view, paths in view_csvs.items()}
    result = smooth_multi_camera(stats, s, progress)
    out_dir = Path(out_dir)
    return {
        view: write_smoothed(smoothed_table(stats[view], smoothed), out_dir / f"{view}.csv")
        for view, smoothed in result.views.items()
    }
