"""The supervised loss: every output's heatmaps against Gaussian targets at the labeled keypoints
(intermediate supervision, both heads of the context model), with the posture-graph maps when the
run adds skeleton edges."""

from __future__ import annotations

import torch

from core.data.heatmaps import gaussian_targets, image_to_heatmap_coords, posture_graph_targets
from core.models.heatmap_net import HEATMAP_STRIDE


def heatmap_loss(logits: torch.Tensor, targets: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """MSE x H*W between spatially softmaxed logits and targets, over visible maps only.

    Args:
        logits, targets: ``(B, C, H, W)``; targets sum to 1 per map.
        visible: ``(B, C)`` bool; maps of missing keypoints are excluded, not pushed to zero.
    """
    probs = logits.float().flatten(2).softmax(-1)
    per_map = (probs - targets.flatten(2)).pow(2).sum(-1)  # mean over pixels x H*W
    mask = visible.float()
    return (per_map * mask).sum() / mask.sum().clamp_min(1.0)


def heatmap_targets(
    keypoints: torch.Tensor, height: int, width: int, sigma: float, edges: list[tuple[int, int]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets ``(B, C, H, W)`` and visibility ``(B, C)`` from ``(B, K, 2)`` keypoints in input
    pixels: one Gaussian map per keypoint, then one posture-graph map per skeleton edge in ``edges``."""
    points = image_to_heatmap_coords(keypoints, HEATMAP_STRIDE)
    targets, visible = gaussian_targets(points, height, width, sigma)
    if edges:
        graph, graph_visible = posture_graph_targets(points, edges, height, width, sigma)
        targets, visible = torch.cat([targets, graph], 1), torch.cat([visible, graph_visible], 1)
    return targets, visible


def supervised_loss(
    outputs: list[torch.Tensor], keypoints: torch.Tensor, sigma: float, edges: list[tuple[int, int]]
) -> torch.Tensor:
    """The sum over the network's outputs (each ``(B, C, H, W)`` logits) of ``heatmap_loss`` against
    the targets of ``(B, K, 2)`` keypoints in input pixels."""
    h, w = outputs[-1].shape[-2:]
    targets, visible = heatmap_targets(keypoints, h, w, sigma, edges)
    return torch.stack([heatmap_loss(out, targets, visible) for out in outputs]).sum()
