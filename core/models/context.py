"""Lightning Pose's context model (paper: "TCN"; code: MHCRNN): frames t-2..t+2 go through the
shared backbone; a single-frame head decodes frame t from its own features, a temporal head
decodes t from all five frames' features; both are supervised, and at prediction each keypoint
takes the more confident head (``core.models.decoding.decode_prediction``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from core.data.context_window import CENTRE, WINDOW, pad_ends, stack_windows
from core.models.heatmap_net import HeatmapNet, init_convolutions


def _upsample(in_channels: int, out_channels: int) -> nn.ConvTranspose2d:
    """3x3 transposed convolution doubling height and width."""
    return nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1)


class TemporalHead(nn.Module):
    """Bidirectional convolutional RNN over the frames of a window, one recurrence per heatmap channel.

    The work splits into a per-frame part (``frame_inputs``), which depends on one frame only and
    so is computed once per video frame however many windows share it, and a per-window part
    (``decode_windows``) that runs on ``channels`` small maps:

    - lift (shared by both directions): PixelShuffle(2) then a 3x3 stride-2 transposed convolution
      from the backbone's features to ``channels`` maps at stride 8;
    - input projections: a 3x3 stride-2 transposed convolution per direction, to stride 4;
    - recurrences: forward ``s = x[0]; s = x[i] + R_f(s)`` for ``i = 1..4``, backward the same from
      frame 4 down to 0; ``R`` is a per-channel (depthwise) 3x3 convolution, so a keypoint's state
      can follow a heatmap pixel of motion per frame and keypoints do not mix; the output is the
      mean of the two final states (each has seen all five frames). Both directions step together
      as one ``(B, 2C, h, w)`` state.

    As in Lightning Pose's UpsamplingCRNN the recurrence is linear (the spatial softmax that
    follows is the nonlinearity); its per-keypoint transition is a 3x3 depthwise convolution
    instead of Lightning Pose's 2x2 stride-2 grouped encoder/decoder, which cannot move mass
    across 2x2 blocks.
    """

    def __init__(self, feature_channels: int, channels: int) -> None:
        super().__init__()
        self.lift = nn.Sequential(nn.PixelShuffle(2), _upsample(feature_channels // 4, channels))
        self.input_projection = _upsample(channels, 2 * channels)
        self.transition = nn.Conv2d(2 * channels, 2 * channels, 3, padding=1, groups=2 * channels)
        """Forward (first ``channels``) and backward recurrences' per-channel 3x3 transitions."""
        init_convolutions(self)

    def frame_inputs(self, features: Tensor) -> Tensor:
        """Backbone features ``(N, F, H/32, W/32)`` to the recurrences' inputs ``(N, 2, C, H/4, W/4)``
        (index 1: forward, backward)."""
        return self.input_projection(self.lift(features)).unflatten(1, (2, -1))

    def decode_windows(self, inputs: Tensor) -> Tensor:
        """``(B, 5, 2, C, H/4, W/4)`` frame inputs of windows t-2..t+2 to logits ``(B, C, H/4, W/4)`` for t."""
        # step i: the forward recurrence reads frame i, the backward one frame 4 - i
        steps = torch.cat([inputs[:, :, 0], inputs.flip(1)[:, :, 1]], dim=2)  # (B, 5, 2C, h, w)
        state = steps[:, 0]
        for step in steps[:, 1:].unbind(1):
            state = step + self.transition(state)
        forward, backward = state.unflatten(1, (2, -1)).unbind(1)
        return (forward + backward) / 2


class ContextHeatmapNet(HeatmapNet):
    """A ``HeatmapNet`` (backbone + single-frame head) with a ``TemporalHead`` on the same features.

    ``forward(windows (B, 5, 3, H, W)) -> [single-frame logits, temporal logits]``, both
    ``(B, out_channels, H/4, W/4)`` for each window's centre frame.
    """

    prediction_heads = 2

    def __init__(self, backbone: str, out_channels: int, pretrained: str = "none") -> None:
        super().__init__(backbone, out_channels, pretrained)
        self.temporal = TemporalHead(self.feature_channels, out_channels)

    def forward(self, windows: Tensor) -> list[Tensor]:
        if windows.ndim != 5 or windows.shape[1] != WINDOW:
            raise ValueError(
                f"the context model takes windows of shape (batch, {WINDOW}, 3, H, W), got {tuple(windows.shape)}"
            )
        batch = windows.shape[0]
        features = self.backbone(windows.flatten(0, 1))
        single = self.head(features.unflatten(0, (batch, WINDOW))[:, CENTRE])
        temporal = self.temporal.decode_windows(
            self.temporal.frame_inputs(features).unflatten(0, (batch, WINDOW))
        )
        return [single, temporal]

    def encode(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        """The per-frame work for a run of frames ``(N, 3, H, W)``, each the centre of its own window.

        Returns the single-frame logits ``(N, C, H/4, W/4)`` and the temporal head's frame inputs
        ``(N, 2, C, H/4, W/4)``; stacking the latter five at a time gives ``decode_windows``'s input.
        """
        features = self.backbone(frames)
        return self.head(features), self.temporal.frame_inputs(features)

    def decode_windows(self, frame_inputs: Tensor) -> Tensor:
        """Temporal logits ``(B, C, H/4, W/4)`` from ``(B, 5, 2, C, H/4, W/4)`` frame inputs (see ``encode``)."""
        return self.temporal.decode_windows(frame_inputs)

    def forward_run(self, frames: Tensor) -> list[Tensor]:
        """Both heads' logits ``(N, C, H/4, W/4)`` for every frame of a run of ``N`` consecutive frames
        ``(N, 3, H, W)``, each predicted from its window t-2..t+2 with the run's ends padded by
        repetition, as prediction pads a video's (``pad_ends``); every frame goes through the backbone
        once (the semi-supervised losses' unlabeled runs)."""
        single, inputs = self.encode(frames)
        return [single, self.decode_windows(stack_windows(pad_ends(inputs)))]
