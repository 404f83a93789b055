"""Per frame x keypoint metrics of a video's predictions, the post-hoc counterparts of the
unsupervised losses: temporal norm, Pose PCA error and multi-view PCA error (pixels). Each is
written as a CSV with the pixel-error file's layout (an index column, one column per keypoint)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from core.config import ProjectConfig
from core.labels.formats import read_labels
from core.labels.table import PoseTable, check_keypoints_match
from core.plausibility.pose_pca import (
    NotEnoughPosesError,
    PosePCA,
    camera_poses,
    fit_project_multiview_pca,
    fit_project_pose_pca,
)
from core.plausibility.temporal import temporal_norm
from core.predict.labeled_frames import write_pixel_error
from core.predict.trained_model import CONFIG_FILE, load_model_config

log = logging.getLogger(__name__)

PCA_METRICS = {"pca_singleview_error": fit_project_pose_pca, "pca_multiview_error": fit_project_multiview_pca}
METRICS = ("temporal_norm", *PCA_METRICS)


def metric_csv(predictions_csv: Path, metric: str, folder: Path | None = None) -> Path:
    """Where ``metric`` of ``<video>.csv`` is written: ``<video>.<metric>.csv`` in ``folder``
    (default: next to the predictions)."""
    return (folder or predictions_csv.parent) / f"{predictions_csv.stem}.{metric}.csv"


def prediction_metrics(
    project: ProjectConfig, predictions: Sequence[PoseTable], pcas: dict[str, PosePCA]
) -> list[dict[str, pd.DataFrame]]:
    """The metrics of a video's predictions, each a ``(frames, keypoints)`` table, pixels.

    Args:
        predictions: one table per view (one for a single camera; separate cameras: the views'
            videos of one session), one row per frame in frame order, the project's keypoints.
        pcas: ``pca_singleview_error`` and/or ``pca_multiview_error`` -> the fit to score with;
            keypoints a fit does not use are NaN.

    Returns:
        Per view: ``temporal_norm`` (distance moved since the previous frame; NaN in frame 0), then
        the PCA reconstruction errors for the fits given. The separate cameras' multi-view PCA scores
        the frames every view has.
    """
    xy = [table.select_keypoints(project.keypoints).xy for table in predictions]
    values: list[dict[str, np.ndarray]] = [{"temporal_norm": temporal_norm(v)} for v in xy]
    for name, pca in pcas.items():
        per_view = (
            _camera_errors(pca, project, xy)
            if pca.views > 1 and project.separate_cameras
            else [pca.keypoint_errors(v, project.keypoints) for v in xy]
        )
        for view_values, errors in zip(values, per_view, strict=True):
            view_values[name] = errors
    return [
        {
            name: pd.DataFrame(v, index=pd.Index(table.index, name="frame"), columns=project.keypoints)
            for name, v in view_values.items()
        }
        for table, view_values in zip(predictions, values, strict=True)
    ]


def _camera_errors(pca: PosePCA, project: ProjectConfig, xy: list[np.ndarray]) -> list[np.ndarray]:
    """Each view's ``(frames, K)`` multi-view PCA errors of separate cameras' predictions ``xy``
    (one ``(frames, K, 2)`` array per view); NaN for keypoints the PCA does not use and for frames
    beyond the shortest view."""
    frames = min(len(v) for v in xy)
    columns = project.index_of(project.pca_keypoints or project.keypoints)
    errors = pca.errors(camera_poses(np.stack([v[:frames] for v in xy]), columns))
    errors = errors.reshape(frames, len(xy), len(columns))
    per_view = []
    for view, v in enumerate(xy):
        out = np.full(v.shape[:2], np.nan)
        out[:frames, columns] = errors[:, view]
        per_view.append(out)
    return per_view


def write_prediction_metrics(
    predictions_csvs: Sequence[str | Path],
    project: ProjectConfig,
    out_dir: str | Path | None = None,
    labels: list[PoseTable] | None = None,
) -> list[dict[str, Path]]:
    """Write ``<video>.temporal_norm.csv``, ``<video>.pca_singleview_error.csv`` and
    ``<video>.pca_multiview_error.csv`` for a video's predictions ``<video>.csv`` (or ``.nwb``; separate cameras:
    for the predictions of one session's videos, one CSV per view in the project's view order).

    The PCAs are fitted on ``labels`` (one table per view, e.g. a model's training split; default:
    all the project's labels). A PCA metric that cannot be fitted (too few complete labels, views
    not matched) is skipped with the reason logged; a project of one view has no multi-view PCA
    error to write, and is not warned about it.

    Args:
        out_dir: where to write (default: next to the predictions).

    Returns:
        Per predictions CSV: metric name -> path written.
    """
    paths = [Path(p) for p in predictions_csvs]
    predictions = []
    for path in paths:
        table = read_labels(path)
        check_keypoints_match(project.keypoints, table.keypoints, source=str(path))
        predictions.append(table)
    pcas = {}
    for name, fit in PCA_METRICS.items():
        if name == "pca_multiview_error" and not (project.separate_cameras or project.view_matches):
            continue
        if name == "pca_multiview_error" and project.separate_cameras and len(paths) != len(project.views):
            log.warning(
                "%s: not writing %s: it scores the predictions of every view of a session together "
                "(%s); predict all of them in one run",
                ", ".join(p.name for p in paths),
                name,
                ", ".join(project.views),
            )
            continue
        try:
            pcas[name] = fit(project, labels)
        except NotEnoughPosesError as e:
            log.warning("%s: not writing %s: %s", ", ".join(p.name for p in paths), name, e)
    written = []
    for path, tables in zip(paths, prediction_metrics(project, predictions, pcas), strict=True):
        folder = Path(out_dir) if out_dir is not None else path.parent
        folder.mkdir(parents=True, exist_ok=True)
        written.append(
            {name: write_pixel_error(table, metric_csv(path, name, folder)) for name, table in tables.items()}
        )
    return written


def training_labels(model_dir: str | Path) -> list[PoseTable] | None:
    """The labels of a trained model's training split, one table per view (its config.yaml's split,
    the rows of the first view's label file it names, read from every view's file); None when a
    label file or the split is not there (the metrics then fall back to all the project's labels, or
    skip)."""
    project, _ = load_model_config(Path(model_dir))
    split = yaml.safe_load((Path(model_dir) / CONFIG_FILE).read_text()).get("split") or {}
    names = set(split.get("train") or ())
    if not names or not all(p.is_file() for p in project.labels_paths):
        return None
    tables = [read_labels(p) for p in project.labels_paths]
    rows = [i for i, name in enumerate(tables[0].index) if name in names]
    return [
        PoseTable(list(t.keypoints), [t.index[i] for i in rows], t.values[rows], t.fields) for t in tables
    ]
