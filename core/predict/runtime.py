"""Which runtime runs a model's network for prediction: torch, torch under bfloat16 autocast
(``bf16``), ONNX Runtime on the CPU (``core.predict.onnx_runtime``), or ``auto``: the fastest of
them, measured on the first frames of the video to predict, among those whose keypoints agree
with torch's float32 keypoints there.

On the project's 2-core machines with bf16 instructions bf16 ran the network 1.9x (AMD EPYC) to 2.5x
(Intel Xeon with AMX) faster than float32 and ONNX Runtime 1.2-1.4x (BENCHMARKS.md); on CPUs without bf16 instructions torch emulates
it, slower than float32, so ``auto`` tries it only where the CPU has them.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from core.cpu import cpu_has_bf16
from core.errors import PoseCloudError
from core.predict.frame_stream import Keypoints, join_keypoints
from core.predict.onnx_runtime import OnnxModel, runtime_version
from core.predict.trained_model import TrainedModel
from core.video.reader import VideoInfo, iter_batches, probe_video

log = logging.getLogger(__name__)

Runtime = Literal["auto", "torch", "bf16", "onnx"]
RUNTIMES: tuple[Runtime, ...] = ("auto", "torch", "bf16", "onnx")
AGREEMENT_PX = 0.1
"""The farthest ``auto`` lets ONNX Runtime's keypoints be from torch's, in network-input pixels: the
scale the networks and decoders work at, whatever the video's size (subpixel maxima decode on a grid
of 1/100 heatmap pixel, so maps that differ by rounding can move a keypoint by one step of it,
0.04 input pixels, which is 0.25 frame pixels for a 64-pixel input on the 396-pixel toy video)."""
BF16_AGREEMENT_PX = 0.5
"""The farthest ``auto`` lets bf16's keypoints be from float32's, in frame pixels: bfloat16 keeps 8
bits of mantissa, so it moves keypoints by more than rounding, and where a heatmap has two peaks of
about equal height it can pick the other one."""
TOLERANCE = {"bf16": (BF16_AGREEMENT_PX, "frame pixels"), "onnx": (AGREEMENT_PX, "input pixels")}
"""How far each runtime's keypoints may be from float32 torch's for ``auto`` to use it, and in what."""


def with_runtime(model: TrainedModel, runtime: Runtime, video: Path, batch_size: int) -> TrainedModel:
    """``model`` as ``runtime`` runs it; ``auto`` measures the runtimes on the first ``batch_size``
    frames of ``video`` (logged: which, and why)."""
    if runtime not in RUNTIMES:
        raise PoseCloudError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    if runtime == "torch":
        return model
    if runtime == "bf16":
        if model.device.type == "cpu" and not cpu_has_bf16():
            log.warning(
                "%s: this CPU has no bf16 instructions: torch emulates bfloat16, slower than float32 "
                "(--runtime auto leaves bf16 out on such CPUs)",
                model.name,
            )
        return _in_bf16(model)
    if runtime == "onnx":
        return OnnxModel.from_trained(model)
    return _fastest(model, Path(video), batch_size)


def describe_runtime(model: TrainedModel) -> str:
    """The runtime and version that predicts with ``model``, as a prediction records it."""
    if isinstance(model, OnnxModel):
        return runtime_version()
    precision = ", bf16 autocast" if model.cpu_bf16 or model.device.type == "cuda" else ""
    return f"torch {torch.__version__} ({model.device}{precision})"


def _fastest(model: TrainedModel, video: Path, batch_size: int) -> TrainedModel:
    """``auto``: torch on a GPU; on a CPU each candidate predicts the first batch twice (a warm-up that
    gives the keypoints compared with float32 torch's, then the timed run), and the fastest of those
    that agree is kept."""
    if model.device.type != "cpu":
        log.info("%s: runtime torch: the model is on %s (bf16 autocast)", model.name, model.device)
        return model
    info = probe_video(video)
    frames = next(iter_batches(info.path, batch_size), None)
    if frames is None:  # the prediction itself reports the unreadable video
        return model
    frames = model.resize_for_model(frames)
    candidates = {"torch": model, **_other_runtimes(model)}
    keypoints = {name: _timed(m, frames, info.width, info.height)[1] for name, m in candidates.items()}
    seconds = {name: _timed(m, frames, info.width, info.height)[0] for name, m in candidates.items()}
    where = f"the first {len(frames)} frames of {info.path.name}"
    others = [name for name in candidates if name != "torch"]
    apart = {name: _apart(model, keypoints["torch"][0], keypoints[name][0], name, info) for name in others}
    agreeing = ["torch"]
    for name in others:
        tolerance, unit = TOLERANCE[name]
        if apart[name] <= tolerance:  # False when NaN
            agreeing.append(name)
            continue
        log.info(  # expected, not a fault: bf16 often moves a few keypoints (BENCHMARKS.md)
            "%s: runtime %s left out: its keypoints are up to %.3g %s from float32 torch's on %s (more than %s)",
            model.name,
            name,
            apart[name],
            unit,
            where,
            tolerance,
        )
    chosen = min(agreeing, key=seconds.__getitem__)
    log.info(
        "%s: runtime %s: %s on %s",
        model.name,
        chosen,
        ", ".join(
            f"{name} {len(frames) / seconds[name]:.1f} frames/s"
            + ("" if name == "torch" else f" (keypoints within {apart[name]:.3g} {TOLERANCE[name][1]})")
            for name in agreeing
        ),
        where,
    )
    return candidates[chosen]


def _other_runtimes(model: TrainedModel) -> dict[str, TrainedModel]:
    """The CPU runtimes ``auto`` tries besides float32 torch: bf16 where the CPU has bf16
    instructions, ONNX Runtime where the model exports (else it says why not)."""
    others: dict[str, TrainedModel] = {}
    if cpu_has_bf16():
        others["bf16"] = _in_bf16(model)
    try:
        others["onnx"] = OnnxModel.from_trained(model)
    except PoseCloudError as e:
        log.warning("%s: runtime onnx left out: %s", model.name, e)
    return others


def _in_bf16(model: TrainedModel) -> TrainedModel:
    """``model`` predicting under bfloat16 autocast on the CPU too (the network is shared)."""
    return dataclasses.replace(model, cpu_bf16=True)


def _apart(
    model: TrainedModel, reference: np.ndarray, xy: np.ndarray, runtime: str, info: VideoInfo
) -> float:
    """The farthest keypoint of ``xy`` from ``reference`` (both in frame pixels), in the unit of
    ``runtime``'s tolerance (NaN when any is missing)."""
    scale = [1.0, 1.0]
    if TOLERANCE[runtime][1] == "input pixels":
        scale = [model.train.image_width / info.width, model.train.image_height / info.height]
    return float(np.linalg.norm((xy - reference) * scale, axis=-1).max())


def _timed(
    model: TrainedModel, frames: np.ndarray, frame_width: int, frame_height: int
) -> tuple[float, Keypoints]:
    """Seconds to predict model-sized ``frames`` as one video's, and the keypoints."""
    stream = model.frame_stream(frame_width, frame_height)
    start = time.perf_counter()
    keypoints = join_keypoints([stream.push(frames), stream.finish()])
    return time.perf_counter() - start, keypoints
