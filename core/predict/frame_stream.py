"""Predicting the consecutive frames of a video batch by batch: one frame at a time, or through
the context model's sliding 5-frame windows with each frame's features computed once."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch import nn

from core.config import ProjectConfig
from core.data.context_window import WINDOW, pad_ends, stack_windows

Keypoints = tuple[np.ndarray, np.ndarray]
"""``xy (N, K, 2)`` in frame pixels and ``confidence (N, K)`` in [0, 1]."""


class StreamedModel(Protocol):
    """What a stream needs of the model it predicts with (``core.predict.trained_model.TrainedModel``,
    which makes the streams: a protocol here keeps the two modules from importing each other)."""

    network: nn.Module
    project: ProjectConfig

    def autocast(self) -> torch.autocast: ...

    def model_input(self, inputs: np.ndarray | torch.Tensor) -> torch.Tensor: ...

    def keypoints(self, outputs: list[torch.Tensor], frame_width: int, frame_height: int) -> Keypoints: ...

    def predict_resized(
        self, inputs: np.ndarray | torch.Tensor, frame_width: int, frame_height: int
    ) -> Keypoints: ...


def join_keypoints(parts: list[Keypoints]) -> Keypoints:
    """The rows of ``parts`` in order."""
    return np.concatenate([xy for xy, _ in parts]), np.concatenate([conf for _, conf in parts])


def no_keypoints(model: StreamedModel) -> Keypoints:
    """Zero rows."""
    keypoints = len(model.project.keypoints)
    return np.zeros((0, keypoints, 2)), np.zeros((0, keypoints), np.float32)


class FrameStream(Protocol):
    def push(self, frames: np.ndarray | torch.Tensor) -> Keypoints:
        """Predict what the next model-sized frames ``(B, h, w, 3)`` uint8 complete (in order)."""

    def finish(self) -> Keypoints:
        """Predict the frames still pending after the last ``push``."""


class SingleFrames:
    """Each frame predicted on its own, as it is pushed."""

    def __init__(self, model: StreamedModel, frame_width: int, frame_height: int) -> None:
        self.model, self.frame_size = model, (frame_width, frame_height)

    def push(self, frames: np.ndarray | torch.Tensor) -> Keypoints:
        return self.model.predict_resized(frames, *self.frame_size)

    def finish(self) -> Keypoints:
        return no_keypoints(self.model)


class ContextWindows:
    """Frame t predicted from frames t-2..t+2, the video's ends padded by repeating its first and
    last frame.

    Every pushed frame goes through the backbone, the single-frame head and the temporal head's
    per-frame layers once (``ContextHeatmapNet.encode``); only the temporal head's small
    recurrence runs per window. Predictions lag two frames behind the pushed frames; ``finish``
    pads the end and predicts the rest. A ``push`` that fails (e.g. CUDA out of memory) changes
    nothing, so the same frames can be pushed again in smaller parts.
    """

    def __init__(self, model: StreamedModel, frame_width: int, frame_height: int) -> None:
        self.model, self.frame_size = model, (frame_width, frame_height)
        self.network = model.network
        self.single: torch.Tensor | None = None
        """``(P, C, h, w)`` single-frame logits of the P frames pushed but not yet predicted."""
        self.inputs: torch.Tensor | None = None
        """``(P + 2, 2, C, h, w)`` temporal frame inputs of those frames and the two before them."""

    @torch.inference_mode()
    def push(self, frames: np.ndarray | torch.Tensor) -> Keypoints:
        with self.model.autocast():
            single, inputs = self.network.encode(self.model.model_input(frames))
        if self.inputs is None:
            inputs = pad_ends(inputs, end=False)
        else:
            single, inputs = torch.cat([self.single, single]), torch.cat([self.inputs, inputs])
        return self._predict_ready(single, inputs)

    @torch.inference_mode()
    def finish(self) -> Keypoints:
        if self.inputs is None:
            return no_keypoints(self.model)
        keypoints = self._predict_ready(self.single, pad_ends(self.inputs, start=False))
        self.single = self.inputs = None
        return keypoints

    def _predict_ready(self, single: torch.Tensor, inputs: torch.Tensor) -> Keypoints:
        """Predict every frame whose window ``inputs`` covers, then keep the rest as the state."""
        ready = len(inputs) - (WINDOW - 1)
        if ready <= 0:
            self.single, self.inputs = single, inputs
            return no_keypoints(self.model)
        with self.model.autocast():
            temporal = self.network.decode_windows(stack_windows(inputs))  # windows (ready, 5, 2, C, h, w)
        keypoints = self.model.keypoints([single[:ready], temporal], *self.frame_size)
        self.single, self.inputs = single[ready:], inputs[ready:]
        return keypoints
