"""Backbone + upsampling head giving heatmap logits at 1/4 of the input resolution."""

from __future__ import annotations

import torch
from torch import nn

from core.models.backbones import BACKBONE_STRIDE, build_backbone

HEATMAP_STRIDE = 4


class HeatmapNet(nn.Module):
    """Lightning Pose's heatmap model: backbone (stride 32), PixelShuffle(2), then two stride-2
    transposed convolutions, so the output is at stride 4.

    ``forward(images (B, 3, H, W)) -> [logits (B, out_channels, H/4, W/4)]`` (a one-element list,
    the same contract as the Stacked DenseNet's list of per-stack outputs).
    """

    required_multiple = BACKBONE_STRIDE

    def __init__(self, backbone: str, out_channels: int, pretrained: str = "none") -> None:
        super().__init__()
        self.backbone, channels, self.pretrained_loaded = build_backbone(backbone, pretrained)
        mid = channels // 4
        self.head = nn.Sequential(
            nn.PixelShuffle(2),
            nn.ConvTranspose2d(mid, mid, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(mid, out_channels, 3, stride=2, padding=1, output_padding=1),
        )
        for m in self.head.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [self.head(self.backbone(images))]
