"""Lightning Pose's unsupervised losses on predicted keypoints in frame pixels.

Each loss measures a distance per frame x keypoint (pixels), keeps only what exceeds an epsilon
(``relu(distance - epsilon)``) and averages. They are differentiable, batched, and run on the device
of their inputs (the PCA losses' fitted parameters are non-persistent buffers: they follow the
module's ``.to(device)`` and stay out of checkpoints). A loss returns a ``LossTerm`` so training can
log the scalar and the per-entry values. The weighted sum of the terms is scaled by
``annealing_factor``; a term's weight is a plain number or ``log_weight_factor(log_weight)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from core.plausibility.pose_pca import PosePCA, from_pca_rows, pca_rows

TEMPORAL_EPSILON = 20.0  # pixels per frame
MIN_CONFIDENCE = 0.05
ANNEAL_START_EPOCH = 60
ANNEAL_INCREASE_PER_EPOCH = 0.01


class LossTerm(NamedTuple):
    """One unsupervised loss.

    Attributes:
        value: scalar, the mean of ``per_keypoint`` over the entries that count (pixels).
        per_keypoint: ``(..., frames, K)`` ``relu(distance - epsilon)`` per entry, pixels; 0 where
            skipped.
    """

    value: torch.Tensor
    per_keypoint: torch.Tensor


def _rectified_mean(distance: torch.Tensor, epsilon: torch.Tensor | float, counts: torch.Tensor) -> LossTerm:
    """``relu(distance - epsilon)`` zeroed where ``counts`` (bool, same shape) is False, averaged over
    the entries that count (0 when none do, never NaN)."""
    per_keypoint = torch.where(counts, torch.relu(distance - epsilon), 0.0)
    return LossTerm(per_keypoint.sum() / counts.sum().clamp_min(1), per_keypoint)


class TemporalLoss(nn.Module):
    """Penalises keypoints that move more than ``epsilon`` pixels between consecutive frames.

    Args:
        epsilon: pixels per frame a keypoint may move for free.
        min_confidence: a transition is skipped where either frame's confidence is below this.
    """

    def __init__(self, epsilon: float = TEMPORAL_EPSILON, min_confidence: float = MIN_CONFIDENCE) -> None:
        super().__init__()
        self.epsilon, self.min_confidence = epsilon, min_confidence

    def forward(self, xy: torch.Tensor, confidence: torch.Tensor | None = None) -> LossTerm:
        """Loss of runs of consecutive frames.

        Args:
            xy: ``(..., T, K, 2)`` predicted keypoints in frame pixels (augmentation undone).
            confidence: ``(..., T, K)`` in [0, 1]; None counts every transition.

        Returns:
            ``per_keypoint`` is ``(..., T - 1, K)``: entry t is the move from frame t to t + 1.
        """
        moved = torch.linalg.vector_norm(xy[..., 1:, :, :] - xy[..., :-1, :, :], dim=-1)
        if confidence is None:
            counts = torch.ones_like(moved, dtype=torch.bool)
        else:
            confident = confidence >= self.min_confidence
            counts = confident[..., 1:, :] & confident[..., :-1, :]
        return _rectified_mean(moved, self.epsilon, counts)


class PCALoss(nn.Module):
    """Pose PCA loss (``pca.views == 1``) or multi-view PCA loss (``pca.views >= 2``): the distance of
    each keypoint from its reconstruction in the fitted subspace, beyond the fit's ``error_p99``.

    Args:
        pca: a fit from ``core.plausibility.pose_pca`` (``fit_project_pose_pca``,
            ``fit_project_multiview_pca`` or ``fit_multiview_pca``).
        columns: the columns of the predicted keypoints that are ``pca.keypoints``, in that order,
            e.g. ``project.index_of(pca.keypoints)``; None when the input holds exactly those (for
            separate cameras: the views' predictions of the same frames concatenated view-major,
            ``(B, V, P, 2) -> (B, V * P, 2)``).
    """

    mean: torch.Tensor
    components: torch.Tensor
    epsilon: torch.Tensor
    columns: torch.Tensor

    def __init__(self, pca: PosePCA, columns: Sequence[int] | None = None) -> None:
        super().__init__()
        self.views = pca.views
        columns = range(len(pca.keypoints)) if columns is None else columns
        if len(columns) != len(pca.keypoints):
            raise ValueError(f"columns names {len(columns)} keypoints, the PCA uses {len(pca.keypoints)}")
        for name, value, dtype in (
            ("mean", pca.mean, torch.float32),
            ("components", pca.components, torch.float32),
            ("epsilon", pca.error_p99, torch.float32),
            ("columns", list(columns), torch.long),
        ):
            self.register_buffer(name, torch.as_tensor(value, dtype=dtype), persistent=False)

    def forward(self, xy: torch.Tensor) -> LossTerm:
        """Loss of predicted poses.

        Args:
            xy: ``(..., K_in, 2)`` predicted keypoints in frame pixels.

        Returns:
            ``per_keypoint`` is ``(..., K)``, the PCA's keypoints in ``pca.keypoints`` order.
        """
        dtype = torch.promote_types(xy.dtype, torch.float32)
        poses = xy.index_select(-2, self.columns).to(dtype)
        flat = poses.reshape(-1, *poses.shape[-2:])  # (N, K, 2)
        rows = pca_rows(flat, self.views).flatten(1) - self.mean.to(dtype)  # (rows, D)
        components = self.components.to(dtype)
        residual = rows - rows @ components.T @ components
        distance = torch.linalg.vector_norm(residual.unflatten(1, (-1, 2)), dim=-1)  # (rows, points)
        distance = from_pca_rows(distance, len(flat), self.views).reshape(poses.shape[:-1])
        return _rectified_mean(distance, self.epsilon.to(dtype), torch.ones_like(distance, dtype=torch.bool))


def log_weight_factor(log_weight: float) -> float:
    """Lightning Pose's weight of a loss given its ``log_weight``: ``1 / (2 exp(log_weight))``."""
    return 0.5 * math.exp(-log_weight)


def annealing_factor(
    epoch: int, start_epoch: int = ANNEAL_START_EPOCH, increase_per_epoch: float = ANNEAL_INCREASE_PER_EPOCH
) -> float:
    """Factor on the sum of the unsupervised terms in ``epoch`` (0-based): 0 up to ``start_epoch``,
    then ``increase_per_epoch`` more each epoch, up to 1."""
    return min(1.0, max(0.0, (epoch - start_epoch) * increase_per_epoch))
