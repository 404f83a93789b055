"""Heatmap training targets: keypoint Gaussians and DeepPoseKit's posture-graph maps.

Coordinates are ``(x, y)`` with the pixel-centre convention: pixel ``(i, j)`` (row, column) has
its centre at ``x = j, y = i``, so a map of width ``W`` covers ``x`` in ``[-0.5, W - 0.5]``.
A model's heatmaps are ``stride`` times smaller than its input; the two coordinate frames are
related by ``x_hm = (x_img + 0.5) / stride - 0.5``.

Every target map is normalised to sum 1, to be compared with the spatial softmax of a model's
logits. A map that cannot be drawn (missing keypoint) is all zero and flagged not visible; the
training loss must exclude it rather than treat it as a target.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from core.errors import ConfigError

DEFAULT_SIGMA = 1.25
"""Width (standard deviation, heatmap pixels) of the target Gaussians."""

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, Tensor)


def _check_stride(stride: float) -> None:
    if not stride > 0:
        raise ConfigError(f"heatmap stride must be positive, got {stride}; use the model's downsampling (4)")


def _check_xy(xy: np.ndarray | Tensor) -> None:
    if xy.ndim == 0 or xy.shape[-1] != 2:
        raise ValueError(f"coordinates need a last dimension of size 2 (x, y), got shape {tuple(xy.shape)}")


def image_to_heatmap_coords(xy: ArrayOrTensor, stride: float) -> ArrayOrTensor:
    """Image-pixel ``(..., 2)`` (x, y) coordinates to heatmap pixels of a map ``stride`` times smaller."""
    _check_stride(stride)
    _check_xy(xy)
    return (xy + 0.5) / stride - 0.5


def heatmap_to_image_coords(xy: ArrayOrTensor, stride: float) -> ArrayOrTensor:
    """Heatmap-pixel ``(..., 2)`` (x, y) coordinates back to image pixels; inverse of the above."""
    _check_stride(stride)
    _check_xy(xy)
    return (xy + 0.5) * stride - 0.5


def _check_target_args(keypoints_hm: Tensor, height: int, width: int, sigma: float) -> None:
    if keypoints_hm.ndim != 3 or keypoints_hm.shape[-1] != 2:
        raise ValueError(f"keypoints must have shape (batch, keypoints, 2), got {tuple(keypoints_hm.shape)}")
    if height < 1 or width < 1:
        raise ConfigError(f"heatmap size must be at least 1x1, got {height}x{width}")
    if not sigma > 0:
        raise ConfigError(f"target sigma must be positive (heatmap pixels), got {sigma}; the default is 1.25")


def _pixel_grid(height: int, width: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """Pixel-centre coordinates ``(W,)`` for x and ``(H,)`` for y, in ``like``'s dtype and device."""
    dtype = like.dtype if like.is_floating_point() else torch.float32
    xs = torch.arange(width, dtype=dtype, device=like.device)
    ys = torch.arange(height, dtype=dtype, device=like.device)
    return xs, ys


def _inside(points: Tensor, height: int, width: int) -> Tensor:
    """``(...)`` bool: finite points whose (x, y) lie on the map, ``[-0.5, size - 0.5]``."""
    x, y = points[..., 0], points[..., 1]
    return (x >= -0.5) & (x <= width - 0.5) & (y >= -0.5) & (y <= height - 0.5)


def _normalise(maps: Tensor, visible: Tensor) -> Tensor:
    """Scale each ``(..., H, W)`` map to sum 1 where ``visible``; all-zero elsewhere."""
    total = maps.sum(dim=(-2, -1), keepdim=True)
    keep = visible[..., None, None] & (total > 0)
    return torch.where(keep, maps / total.clamp_min(torch.finfo(maps.dtype).tiny), torch.zeros_like(maps))


def _keypoint_peaks(keypoints_hm: Tensor, height: int, width: int, sigma: float) -> tuple[Tensor, Tensor]:
    """Unnormalised Gaussians (peak 1) ``(B, K, H, W)`` and visibility ``(B, K)``."""
    visible = _inside(keypoints_hm, height, width)
    points = torch.where(visible[..., None], keypoints_hm, torch.zeros_like(keypoints_hm))
    xs, ys = _pixel_grid(height, width, points)
    gx = torch.exp(-((xs - points[..., 0:1]) ** 2) / (2 * sigma**2))  # (B, K, W)
    gy = torch.exp(-((ys - points[..., 1:2]) ** 2) / (2 * sigma**2))  # (B, K, H)
    peaks = gy[..., :, None] * gx[..., None, :]
    return peaks * visible[..., None, None], visible


def gaussian_targets(
    keypoints_hm: Tensor, height: int, width: int, sigma: float = DEFAULT_SIGMA
) -> tuple[Tensor, Tensor]:
    """One normalised 2-D Gaussian per keypoint.

    Args:
        keypoints_hm: ``(batch, keypoints, 2)`` (x, y) in heatmap pixels; NaN where missing.
        height, width: heatmap size in pixels.
        sigma: Gaussian standard deviation in heatmap pixels.

    Returns:
        targets: ``(batch, keypoints, H, W)``, each map summing to 1 (the part of the Gaussian
            on the map, renormalised), all-zero where not visible.
        visible: ``(batch, keypoints)`` bool; False for NaN keypoints and for keypoints off the
            map (outside ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``), which a normalised map
            cannot represent.
    """
    _check_target_args(keypoints_hm, height, width, sigma)
    peaks, visible = _keypoint_peaks(keypoints_hm, height, width, sigma)
    return _normalise(peaks, visible), visible


def _check_edges(edges: list[tuple[int, int]], n_keypoints: int) -> Tensor:
    if not edges:
        raise ConfigError(
            "the posture graph needs at least one skeleton edge; add edges to the project skeleton"
        )
    bad = [edge for edge in edges if len(edge) != 2 or not all(0 <= i < n_keypoints for i in edge)]
    if bad:
        raise ConfigError(
            f"skeleton edges {bad} refer to keypoints outside 0..{n_keypoints - 1}; "
            "each edge must join two keypoint indices of the project"
        )
    return torch.tensor(edges, dtype=torch.long)


def _segment_maps(starts: Tensor, ends: Tensor, height: int, width: int, sigma: float) -> Tensor:
    """``exp(-d^2 / 2 sigma^2)`` with ``d`` each pixel's distance to a segment: ``(B, E, H, W)``.

    ``starts`` and ``ends`` are ``(B, E, 2)`` finite (x, y); a zero-length segment is a point.
    """
    xs, ys = _pixel_grid(height, width, starts)
    px = xs[None, None, None, :] - starts[..., 0, None, None]  # (B, E, 1, W)
    py = ys[None, None, :, None] - starts[..., 1, None, None]  # (B, E, H, 1)
    direction = ends - starts
    length2 = (direction**2).sum(-1)[..., None, None]
    dx, dy = direction[..., 0, None, None], direction[..., 1, None, None]
    along = ((px * dx + py * dy) / length2.clamp_min(torch.finfo(length2.dtype).tiny)).clamp(0, 1)
    dist2 = (px - along * dx) ** 2 + (py - along * dy) ** 2
    return torch.exp(-dist2 / (2 * sigma**2))


def posture_graph_targets(
    keypoints_hm: Tensor,
    edges: list[tuple[int, int]],
    height: int,
    width: int,
    sigma: float = DEFAULT_SIGMA,
) -> tuple[Tensor, Tensor]:
    """DeepPoseKit's posture-graph maps: extra training-only target channels.

    Args:
        keypoints_hm: ``(batch, keypoints, 2)`` (x, y) in heatmap pixels; NaN where missing.
        edges: skeleton edges as pairs of keypoint indices.
        height, width: heatmap size in pixels.
        sigma: blur (heatmap pixels) of the lines and keypoint Gaussians.

    Returns:
        targets: ``(batch, E + 2, H, W)``: one map per edge (the segment between its two
            keypoints blurred by a Gaussian of ``sigma``), then the whole skeleton (max over
            visible edges), then skeleton + keypoint Gaussians (max over both); each map sums
            to 1, all-zero where not visible.
        visible: ``(batch, E + 2)`` bool; an edge is visible when both endpoints are finite
            and some of its line falls on the map; the whole-skeleton maps are visible when any
            edge is (the last map also when any keypoint is).
    """
    _check_target_args(keypoints_hm, height, width, sigma)
    edge_index = _check_edges(edges, keypoints_hm.shape[1]).to(keypoints_hm.device)
    starts, ends = keypoints_hm[:, edge_index[:, 0]], keypoints_hm[:, edge_index[:, 1]]
    finite = torch.isfinite(starts).all(-1) & torch.isfinite(ends).all(-1)  # (B, E)
    zeros = torch.zeros_like(starts)
    lines = _segment_maps(
        torch.where(finite[..., None], starts, zeros),
        torch.where(finite[..., None], ends, zeros),
        height,
        width,
        sigma,
    )
    lines = lines * finite[..., None, None]
    edge_visible = finite & (lines.sum(dim=(-2, -1)) > 0)
    skeleton = lines.amax(dim=1)
    peaks, keypoint_visible = _keypoint_peaks(keypoints_hm, height, width, sigma)
    with_keypoints = torch.maximum(skeleton, peaks.amax(dim=1))
    any_edge = edge_visible.any(dim=1)
    visible = torch.cat(
        [edge_visible, any_edge[:, None], (any_edge | keypoint_visible.any(dim=1))[:, None]], dim=1
    )
    maps = torch.cat([lines, skeleton[:, None], with_keypoints[:, None]], dim=1)
    return _normalise(maps, visible), visible
