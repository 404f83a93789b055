"""Per frame x keypoint metrics of a video's predictions, the post-hoc counterparts of the
unsupervised losses: temporal norm, Pose PCA error and multi-view PCA error (pixels). Each is
written as a CSV with the pixel-error file's layout (an index column, one column per keypoint)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from core.config import ProjectConfig
from core.labels.dlc_csv import read_pose_csv
from core.labels.formats import read_labels
from core.labels.table import PoseTable, check_keypoints_match
from core.predict.labeled_frames import write_pixel_error
from core.selection.metrics import temporal_norm
from core.selection.pose_pca import (
    NotEnoughPosesError,
    PosePCA,
    fit_project_multiview_pca,
    fit_project_pose_pca,
)

log = logging.getLogger(__name__)

PCA_METRICS = {"pca_singleview_error": fit_project_pose_pca, "pca_multiview_error": fit_project_multiview_pca}


def prediction_metrics(predictions: PoseTable, pcas: dict[str, PosePCA]) -> dict[str, pd.DataFrame]:
    """The metrics of one video's predictions, each a ``(frames, keypoints)`` table, pixels.

    Args:
        predictions: one row per frame, in frame order.
        pcas: ``pca_singleview_error`` and/or ``pca_multiview_error`` -> the fit to score with;
            keypoints a fit does not use are NaN.

    Returns:
        ``temporal_norm`` (distance moved since the previous frame; NaN in frame 0), then the PCA
        reconstruction errors for the fits given.
    """
    xy = predictions.xy
    values: dict[str, np.ndarray] = {"temporal_norm": temporal_norm(xy)}
    for name, pca in pcas.items():
        values[name] = pca.keypoint_errors(xy, predictions.keypoints)
    index = pd.Index(predictions.index, name="frame")
    return {name: pd.DataFrame(v, index=index, columns=predictions.keypoints) for name, v in values.items()}


def write_prediction_metrics(
    predictions_csv: str | Path,
    project: ProjectConfig,
    out_dir: str | Path | None = None,
    labels: PoseTable | None = None,
) -> dict[str, Path]:
    """Write ``<video>.temporal_norm.csv``, ``<video>.pca_singleview_error.csv`` and
    ``<video>.pca_multiview_error.csv`` for a video's predictions ``<video>.csv``.

    The PCAs are fitted on ``labels`` (e.g. a model's training split; default: all the project's
    labels). A PCA metric that cannot be fitted (too few complete labels, no ``view_matches``) is
    skipped with the reason logged.

    Args:
        out_dir: where to write (default: next to the predictions).

    Returns:
        metric name -> path written.
    """
    predictions_csv = Path(predictions_csv)
    out_dir = Path(out_dir) if out_dir is not None else predictions_csv.parent
    predictions = read_pose_csv(predictions_csv)
    check_keypoints_match(project.keypoints, predictions.keypoints, source=str(predictions_csv))
    pcas = {}
    for name, fit in PCA_METRICS.items():
        try:
            pcas[name] = fit(project, labels)
        except NotEnoughPosesError as e:
            log.warning("%s: not writing %s: %s", predictions_csv.name, name, e)
    tables = prediction_metrics(predictions, pcas)
    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        name: write_pixel_error(table, out_dir / f"{predictions_csv.stem}.{name}.csv")
        for name, table in tables.items()
    }


def training_labels(model_dir: str | Path) -> PoseTable | None:
    """The labels of a trained model's training split (its config.yaml's split, read from the
    project's label file), for fitting the metrics' PCAs as training did; None when the label file or
    the split is not there (the metrics then fall back to all the project's labels, or skip)."""
    from core.predict.trained_model import CONFIG_FILE, load_model_config

    project, _ = load_model_config(Path(model_dir))
    split = yaml.safe_load((Path(model_dir) / CONFIG_FILE).read_text()).get("split") or {}
    path = project.data_dir / project.labels_file
    names = set(split.get("train") or ())
    if not names or not path.is_file():
        return None
    labels = read_labels(path)
    rows = [i for i, name in enumerate(labels.index) if name in names]
    return PoseTable(
        list(labels.keypoints), [labels.index[i] for i in rows], labels.values[rows], labels.fields
    )
