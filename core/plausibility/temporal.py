"""Motion continuity: how far each keypoint moved since the previous frame (the temporal norm), the
post-hoc counterpart of the temporal loss (``core.losses.unsupervised``)."""

from __future__ import annotations

import numpy as np


def temporal_norm(xy: np.ndarray) -> np.ndarray:
    """Distance each keypoint moved since the previous frame, pixels.

    Args:
        xy: ``(frames, keypoints, 2)`` x/y in pixels.

    Returns:
        ``(frames, keypoints)``; frame 0 and frames next to a missing point are NaN.
    """
    moved = np.full(xy.shape[:2], np.nan)
    moved[1:] = np.linalg.norm(np.diff(xy, axis=0), axis=-1)
    return moved
