"""DeepPoseKit's Stacked DenseNet: stacked fully-convolutional DenseNet hourglasses.

Graving et al. (eLife 2019): a 7x7 stride-2 stem, then encoder-decoder stacks built from densely
connected layers (a 1x1 bottleneck before each 3x3 convolution), 0.5 compression at every
transition, SELU activations with LeCun-normal initialisation (self-normalising, no batch
norm), max-pool downsampling and sub-pixel (pixel-shuffle) upsampling. Every stack ends in a
heatmap head at 1/4 of the input resolution; all heads are supervised (intermediate
supervision) and the last one is the prediction. About 1.5 M parameters by default.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from core.errors import ConfigError
from core.models.input_size import check_input_size

OUTPUT_STRIDE = 4
"""Input pixels per heatmap pixel."""

WIDE_LEVEL = 2
"""Hourglass level (stride ``4 * 2 ** level``) from which dense layers are twice as wide, where pixels are few."""


def _conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    """Convolution + SELU, LeCun-normal weights (what SELU's self-normalisation assumes)."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)
    nn.init.kaiming_normal_(conv.weight, nonlinearity="linear")
    nn.init.zeros_(conv.bias)
    return nn.Sequential(conv, nn.SELU(inplace=True))


def _dense_width(growth_rate: int, level: int) -> int:
    """Channels a dense layer adds at hourglass ``level``."""
    return growth_rate * (2 if level >= WIDE_LEVEL else 1)


def _compressed(channels: int, compression: float, multiple: int = 1) -> int:
    """``channels * compression`` rounded to a positive multiple of ``multiple``."""
    return max(multiple, round(channels * compression / multiple) * multiple)


class DenseLayer(nn.Module):
    """Input concatenated with ``width`` new 3x3 features (from a 1x1 bottleneck of ``width``)."""

    def __init__(self, in_channels: int, width: int, bottleneck: bool) -> None:
        super().__init__()
        if bottleneck:
            self.body = nn.Sequential(_conv(in_channels, width, 1), _conv(width, width, 3))
        else:
            self.body = _conv(in_channels, width, 3)
        self.out_channels = in_channels + width

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, self.body(x)], dim=1)


class TransitionDown(nn.Module):
    """2x max pooling, then a 1x1 compression."""

    def __init__(self, in_channels: int, compression: float) -> None:
        super().__init__()
        self.out_channels = _compressed(in_channels, compression)
        self.compress = _conv(in_channels, self.out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.compress(F.max_pool2d(x, 2))


class TransitionUp(nn.Module):
    """A 1x1 compression to a multiple of 4 channels, then 2x sub-pixel (pixel-shuffle) upsampling."""

    def __init__(self, in_channels: int, compression: float) -> None:
        super().__init__()
        compressed = _compressed(in_channels, compression, multiple=4)
        self.compress = _conv(in_channels, compressed, 1)
        self.out_channels = compressed // 4

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(self.compress(x), 2)


class DenseHourglass(nn.Module):
    """One FC-DenseNet encoder-decoder at stride 4 with ``depth`` 2x downsamplings.

    ``(B, in_channels, h, w)`` to ``(B, out_channels, h, w)``; ``h`` and ``w`` must be multiples
    of ``2 ** depth``. Each encoder level keeps a compressed copy of its features that the
    decoder concatenates after upsampling to the same level.
    """

    def __init__(self, in_channels: int, growth_rate: int, depth: int, compression: float, bottleneck: bool):
        super().__init__()
        self.skips = nn.ModuleList()
        self.downs = nn.ModuleList()
        self.encoders = nn.ModuleList()
        skip_channels = []
        channels = in_channels
        for level in range(1, depth + 1):
            skip = _conv(channels, _compressed(channels, compression), 1)
            self.skips.append(skip)
            skip_channels.append(skip[0].out_channels)
            down = TransitionDown(channels, compression)
            dense = DenseLayer(down.out_channels, _dense_width(growth_rate, level), bottleneck)
            self.downs.append(down)
            self.encoders.append(dense)
            channels = dense.out_channels
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level in reversed(range(depth)):
            up = TransitionUp(channels, compression)
            dense = DenseLayer(
                up.out_channels + skip_channels[level], _dense_width(growth_rate, level), bottleneck
            )
            self.ups.append(up)
            self.decoders.append(dense)
            channels = dense.out_channels
        self.out_channels = channels

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for skip, down, encoder in zip(self.skips, self.downs, self.encoders, strict=True):
            skips.append(skip(x))
            x = encoder(down(x))
        for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips), strict=True):
            x = decoder(torch.cat([up(x), skip], dim=1))
        return x


class StackedDenseNet(nn.Module):
    """DeepPoseKit's Stacked DenseNet pose model.

    Args:
        in_channels: image channels (1 for greyscale, 3 for colour); images are expected as
            normalised floats (e.g. zero mean, unit variance).
        out_channels: heatmap channels (keypoints, plus posture-graph maps when trained with them).
        n_stacks: hourglass stacks, each with its own supervised heatmap head.
        growth_rate: channels a dense layer adds (twice that at stride 16 and below).
        compression: channel reduction at every transition and skip connection.
        bottleneck: a 1x1 convolution before each 3x3 convolution of a dense layer.
        n_transitions: 2x downsamplings inside each hourglass, below the stride-4 stem.

    Input height and width must be multiples of ``required_multiple`` (``4 * 2 ** n_transitions``).
    """

    prediction_heads = 1
    """Only the last stack's maps are the prediction; earlier stacks are intermediate supervision."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n_stacks: int = 2,
        growth_rate: int = 48,
        compression: float = 0.5,
        bottleneck: bool = True,
        n_transitions: int = 4,
    ) -> None:
        super().__init__()
        for name, value in [
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("n_stacks", n_stacks),
            ("growth_rate", growth_rate),
            ("n_transitions", n_transitions),
        ]:
            if value < 1:
                raise ConfigError(f"StackedDenseNet {name} must be at least 1, got {value}")
        if not 0 < compression <= 1:
            raise ConfigError(
                f"StackedDenseNet compression must be in (0, 1], got {compression}; the default is 0.5"
            )
        self.n_transitions = n_transitions
        self.stem_conv = _conv(in_channels, growth_rate, 7, stride=2)
        stem_dense = DenseLayer(growth_rate + 4 * in_channels, growth_rate, bottleneck)
        stem_down = TransitionDown(stem_dense.out_channels, compression)
        stem_dense_2 = DenseLayer(stem_down.out_channels, 2 * growth_rate, bottleneck)
        stem_out = _conv(stem_dense_2.out_channels, _compressed(stem_dense_2.out_channels, compression), 1)
        self.stem = nn.Sequential(stem_dense, stem_down, stem_dense_2, stem_out)
        stem_channels = stem_out[0].out_channels
        self.hourglasses = nn.ModuleList()
        self.heads = nn.ModuleList()
        channels = stem_channels
        for _ in range(n_stacks):
            hourglass = DenseHourglass(channels, growth_rate, n_transitions, compression, bottleneck)
            head = nn.Conv2d(hourglass.out_channels, out_channels, 1)
            nn.init.zeros_(head.bias)
            self.hourglasses.append(hourglass)
            self.heads.append(head)
            # The next stack sees this stack's features, the stem's features and the heatmaps.
            channels = hourglass.out_channels + stem_channels + out_channels

    @property
    def required_multiple(self) -> int:
        """Input height and width must be multiples of this (the total downsampling)."""
        return OUTPUT_STRIDE * 2**self.n_transitions

    def check_input_size(self, height: int, width: int) -> None:
        """Raise a ConfigError naming the wrong size and the nearest valid ones."""
        check_input_size(
            height, width, self.required_multiple, f"StackedDenseNet (n_transitions={self.n_transitions})"
        )

    def forward(self, images: Tensor) -> list[Tensor]:
        """``(B, in_channels, H, W)`` images to one ``(B, out_channels, H/4, W/4)`` logit map per stack."""
        self.check_input_size(images.shape[-2], images.shape[-1])
        stem_features = self.stem(torch.cat([self.stem_conv(images), F.pixel_unshuffle(images, 2)], dim=1))
        x = stem_features
        outputs = []
        for hourglass, head in zip(self.hourglasses, self.heads, strict=True):
            features = hourglass(x)
            logits = head(features)
            outputs.append(logits)
            x = torch.cat([features, stem_features, logits], dim=1)
        return outputs
