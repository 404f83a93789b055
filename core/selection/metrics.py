"""Per frame x keypoint quality metrics of an ensemble's prediction of one video."""

from __future__ import annotations

import numpy as np

from core.plausibility.pose_pca import PosePCA
from core.plausibility.temporal import temporal_norm
from core.smoothing.ensemble import EnsembleStats

# Metrics where a large value means a likely error (pixels); ``confidence`` is judged on its own.
# The multi-view PCA error applies to a session of separate cameras (``suggest_session_frames``).
ERROR_METRICS = ("temporal_norm", "pca_error", "pca_multiview_error", "ensemble_std")


def ensemble_std(stats: EnsembleStats) -> np.ndarray:
    """``(frames, keypoints)`` ensemble standard deviation ``sqrt(x_var + y_var)`` (confidence
    weighted, see ``EnsembleStats.variance``), pixels."""
    return np.sqrt(stats.variance.sum(axis=-1))


def pca_error(stats: EnsembleStats, pca: PosePCA) -> np.ndarray:
    """``(frames, keypoints)`` Pose PCA reconstruction error of the ensemble median, pixels; NaN for
    keypoints the PCA does not use."""
    return pca.keypoint_errors(stats.median, stats.keypoints, source="the ensemble members")


def frame_metrics(stats: EnsembleStats, pca: PosePCA | None = None) -> dict[str, np.ndarray]:
    """All metrics of an ensemble as ``name -> (frames, keypoints)`` arrays.

    ``temporal_norm`` (pixels, of the median), ``pca_error`` (pixels; only with ``pca``),
    ``ensemble_std`` (pixels; only with 2 or more members) and ``confidence`` (members' mean
    likelihood).
    """
    metrics = {"temporal_norm": temporal_norm(stats.median)}
    if pca is not None:
        metrics["pca_error"] = pca_error(stats, pca)
    if stats.n_members > 1:
        metrics["ensemble_std"] = ensemble_std(stats)
    metrics["confidence"] = stats.likelihood
    return metrics
