"""Principal component analysis of plain numpy rows, the one home of the SVD that the Pose and
multi-view PCAs (``core.plausibility.pose_pca``), the multi-camera smoother's per-keypoint subspace
(``core.smoothing.multicam``) and the thumbnails of frame picking (``core.selection.initial``) share.
"""

from __future__ import annotations

import numpy as np

VARIANCE_EXPLAINED = 0.99


def principal_subspace(
    rows: np.ndarray, n_components: int | None = None, variance_explained: float = VARIANCE_EXPLAINED
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean ``(D,)``, principal axes ``(C, D)`` (orthonormal, largest variance first) and the variance
    along every axis ``(min(n, D),)`` (sum of squares) of complete ``(n, D)`` rows.

    ``n_components`` fixes C (at most ``min(n, D)``); when None, C is the fewest axes explaining
    ``variance_explained`` of the total variance (which must then be positive).
    """
    mean = rows.mean(axis=0)
    _, singular, axes = np.linalg.svd(rows - mean, full_matrices=False)
    variance = singular**2
    if n_components is None:
        cumulative = np.cumsum(variance) / variance.sum()
        n_components = int(np.searchsorted(cumulative, variance_explained - 1e-12) + 1)
    return mean, axes[:n_components], variance
