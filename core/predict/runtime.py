"""Which runtime runs a model's network for prediction: torch, ONNX Runtime on the CPU
(``core.predict.onnx_runtime``), or ``auto``: the faster of the two, measured on the first frames
of the video to predict, and ONNX Runtime only where its keypoints agree with torch's there.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from core.errors import PoseCloudError
from core.predict.frame_stream import Keypoints, join_keypoints
from core.predict.onnx_runtime import OnnxModel, runtime_version
from core.predict.trained_model import TrainedModel
from core.video.reader import iter_batches, probe_video

log = logging.getLogger(__name__)

Runtime = Literal["auto", "torch", "onnx"]
RUNTIMES: tuple[Runtime, ...] = ("auto", "torch", "onnx")
AGREEMENT_PX = 0.1
"""The farthest ``auto`` lets ONNX Runtime's keypoints be from torch's, in network-input pixels: the
scale the networks and decoders work at, whatever the video's size (subpixel maxima decode on a grid
of 1/100 heatmap pixel, so maps that differ by rounding can move a keypoint by one step of it,
0.04 input pixels, which is 0.25 frame pixels for a 64-pixel input on the 396-pixel toy video)."""


def with_runtime(model: TrainedModel, runtime: Runtime, video: Path, batch_size: int) -> TrainedModel:
    """``model`` as ``runtime`` runs it; ``auto`` measures both runtimes on the first
    ``batch_size`` frames of ``video`` (logged: which, and why)."""
    if runtime not in RUNTIMES:
        raise PoseCloudError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    if runtime == "torch":
        return model
    if runtime == "onnx":
        return OnnxModel.from_trained(model)
    return _fastest(model, Path(video), batch_size)


def describe_runtime(model: TrainedModel) -> str:
    """The runtime and version that predicts with ``model``, as a prediction records it."""
    if isinstance(model, OnnxModel):
        return runtime_version()
    return f"torch {torch.__version__} ({model.device})"


def _fastest(model: TrainedModel, video: Path, batch_size: int) -> TrainedModel:
    """``auto``: torch on a GPU or where the model does not export; else each runtime predicts the
    first batch twice (a warm-up that gives the keypoints compared, then the timed run)."""
    if model.device.type != "cpu":
        log.info(
            "%s: runtime torch: the model is on %s and ONNX Runtime runs on the CPU", model.name, model.device
        )
        return model
    try:
        onnx_model = OnnxModel.from_trained(model)
    except PoseCloudError as e:
        log.warning("%s: runtime torch: %s", model.name, e)
        return model
    info = probe_video(video)
    frames = next(iter_batches(info.path, batch_size), None)
    if frames is None:  # the prediction itself reports the unreadable video
        return model
    frames = model.resize_for_model(frames)
    keypoints = [_timed(m, frames, info.width, info.height)[1] for m in (model, onnx_model)]  # warm-up
    seconds = [_timed(m, frames, info.width, info.height)[0] for m in (model, onnx_model)]
    to_input = [model.train.image_width / info.width, model.train.image_height / info.height]
    apart = float(np.linalg.norm((keypoints[0][0] - keypoints[1][0]) * to_input, axis=-1).max())
    where = f"the first {len(frames)} frames of {info.path.name}"
    if not apart <= AGREEMENT_PX:  # also when NaN
        log.warning(
            "%s: runtime torch: ONNX Runtime's keypoints are up to %.3g input pixels from torch's on %s "
            "(more than %s)",
            model.name,
            apart,
            where,
            AGREEMENT_PX,
        )
        return model
    chosen = onnx_model if seconds[1] < seconds[0] else model
    log.info(
        "%s: runtime %s: ONNX Runtime %.1f frames/s against torch's %.1f on %s, keypoints within %.3g "
        "input pixels",
        model.name,
        "onnx" if chosen is onnx_model else "torch",
        len(frames) / seconds[1],
        len(frames) / seconds[0],
        where,
        apart,
    )
    return chosen


def _timed(
    model: TrainedModel, frames: np.ndarray, frame_width: int, frame_height: int
) -> tuple[float, Keypoints]:
    """Seconds to predict model-sized ``frames`` as one video's, and the keypoints."""
    stream = model.frame_stream(frame_width, frame_height)
    start = time.perf_counter()
    keypoints = join_keypoints([stream.push(frames), stream.finish()])
    return time.perf_counter() - start, keypoints
