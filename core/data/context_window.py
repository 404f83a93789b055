"""The context model's window of frames: frame t is seen with frames t-2..t+2. The same offsets pick
a labeled frame's neighbouring images (``core.data.labeled_frames``), shape the network's input
(``core.models.context``) and pad a video's ends when it is predicted (``core.predict.frame_stream``).
"""

from __future__ import annotations

import torch
from torch import Tensor

CONTEXT_OFFSETS = (-2, -1, 0, 1, 2)
"""Frames of a window relative to the frame it predicts."""
WINDOW = len(CONTEXT_OFFSETS)
CENTRE = CONTEXT_OFFSETS.index(0)


def pad_ends(inputs: Tensor, start: bool = True, end: bool = True) -> Tensor:
    """A run of per-frame tensors ``(N, ...)`` with its first frame repeated ``CENTRE`` times before it
    (``start``) and its last frame repeated ``WINDOW - 1 - CENTRE`` times after it (``end``), so every
    frame of the run is the centre of a window (how prediction pads a video's ends)."""
    parts = [inputs]
    if start:
        parts.insert(0, inputs[:1].expand(CENTRE, *inputs.shape[1:]))
    if end:
        parts.append(inputs[-1:].expand(WINDOW - 1 - CENTRE, *inputs.shape[1:]))
    return torch.cat(parts)


def stack_windows(inputs: Tensor) -> Tensor:
    """Per-frame tensors of ``M`` consecutive frames ``(M, ...)`` to the ``M - WINDOW + 1`` windows
    they cover, ``(M - WINDOW + 1, WINDOW, ...)``: window ``i`` holds frames ``i .. i + WINDOW - 1``
    (none when ``M < WINDOW``).

    Slices that end counting from the run's end, rather than at a length computed from ``M``, keep
    ``M`` out of the arithmetic, so a traced graph (the ONNX export) works for any number of frames.
    """
    last = WINDOW - 1
    return torch.stack([inputs[i : (i - last) or None] for i in range(WINDOW)], dim=1)
