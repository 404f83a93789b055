"""Backbone + upsampling head giving heatmap logits at 1/4 of the input resolution."""

from __future__ import annotations

import torch
from torch import nn

from core.models.backbones import BACKBONE_STRIDE, build_backbone

HEATMAP_STRIDE = 4


def init_convolutions(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every (transposed) convolution in ``module``."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


class HeatmapNet(nn.Module):
    """Lightning Pose's heatmap model: backbone (stride 32), PixelShuffle(2), then two stride-2
    transposed convolutions, so the output is at stride 4.

    ``forward(images (B, 3, H, W)) -> [logits (B, out_channels, H/4, W/4)]`` (a one-element list,
    the same contract as the Stacked DenseNet's list of per-stack outputs).
    """

    required_multiple = BACKBONE_STRIDE
    prediction_heads = 1
    """How many of the last outputs are predictions (the most confident per keypoint wins)."""

    def __init__(self, backbone: str, out_channels: int, pretrained: str = "none") -> None:
        super().__init__()
        self.backbone, self.feature_channels, self.pretrained_loaded = build_backbone(backbone, pretrained)
        mid = self.feature_channels // 4
        self.head = nn.Sequential(
            nn.PixelShuffle(2),
            nn.ConvTranspose2d(mid, mid, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(mid, out_channels, 3, stride=2, padding=1, output_padding=1),
        )
        init_convolutions(self.head)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [self.head(self.backbone(images))]
