"""Smoothing CSV files: ensemble member predictions in, the reference package's columns out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from core.errors import LabelFormatError
from core.labels.dlc_csv import read_pose_csv, write_pose_csv
from core.labels.table import PoseTable
from core.smoothing.ensemble import EnsembleStats, ensemble_stats
from core.smoothing.multicam import smooth_multi_camera
from core.smoothing.singlecam import Smoothed, smooth_single_camera

# Per keypoint, as written by ensemble-kalman-smoother 4.x (pixels; variances in pixels²).
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
SCORER = "posecloud_eks"


def smoothed_table(stats: EnsembleStats, smoothed: Smoothed) -> PoseTable:
    """A PoseTable with ``SMOOTHED_FIELDS`` per keypoint: smoothed x/y, mean likelihood, ensemble
    median and variance, posterior variance."""
    values = np.concatenate(
        [smoothed.xy, stats.likelihood[..., None], stats.median, stats.variance, smoothed.posterior_var],
        axis=-1,
    )
    return PoseTable(list(stats.keypoints), list(stats.index), values, SMOOTHED_FIELDS, SCORER)


def read_ensemble(paths: Sequence[str | Path]) -> EnsembleStats:
    """Ensemble statistics of the member prediction CSVs ``paths`` (one video, one camera)."""
    if not paths:
        raise LabelFormatError("no member prediction files given; pass the CSV of each ensemble member")
    return ensemble_stats([read_pose_csv(p) for p in paths], [str(p) for p in paths])


def smooth_files(member_csvs: Sequence[str | Path], out_csv: str | Path, s: float | None = None) -> Path:
    """Smooth one camera's ensemble member CSVs into ``out_csv``; ``s`` None fits it per keypoint."""
    stats = read_ensemble(member_csvs)
    return write_pose_csv(smoothed_table(stats, smooth_single_camera(stats, s)), out_csv)


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
    view_csvs: Mapping[str, Sequence[str | Path]], out_dir: str | Path, s: float | None = None
) -> dict[str, Path]:
    """Smooth synchronised views together; writes ``out_dir/<view>.csv`` per view."""
    stats = {view: read_ensemble(paths) for view, paths in view_csvs.items()}
    result = smooth_multi_camera(stats, s)
    out_dir = Path(out_dir)
    return {
        view: write_pose_csv(smoothed_table(stats[view], smoothed), out_dir / f"{view}.csv")
        for view, smoothed in result.views.items()
    }
