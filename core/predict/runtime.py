"""Which runtime runs a model's network for prediction: torch, torch under bfloat16 autocast
(``bf16``), ONNX Runtime on the CPU (``onnx``), OpenVINO's runtime on the CPU in float32
(``openvino``) or bfloat16 (``openvino-bf16``) (``core.predict.onnx_runtime``), or ``auto``: the fastest
float32 runtime among those whose keypoints agree with torch's on runs of frames spread over the
whole video to predict. Spread, because agreement on the first frames says little about the rest.

``auto`` leaves the bf16 runtimes out, though they are the fastest on CPUs with bf16 instructions
(1.9x-2.5x float32 for the network): they keep most keypoints within a pixel of float32's, but where
a heatmap has two peaks of about equal height they can take the other one, and a check on a few
frames does not find where. On a trained two-camera model, OpenVINO's bf16 agreed with float32
within 0.5 px on the four runs ``auto`` checks and put 0.1 % of the video's keypoints elsewhere, up
to 67 px away (BENCHMARKS.md). ``--runtime bf16`` and ``openvino-bf16`` are there for whoever takes
that for the speed.

``auto`` compares nothing when float32 torch would predict the whole video in under
``WORTH_COMPARING_S``: exporting the model and comparing the runtimes costs seconds that a short
prediction does not win back.
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
from core.errors import PoseCloudError, VideoError
from core.predict.frame_stream import Keypoints, join_keypoints
from core.predict.onnx_export import export_onnx
from core.predict.onnx_runtime import Engine, OnnxModel, runtime_version
from core.predict.trained_model import TrainedModel
from core.video.reader import VideoInfo, iter_batches, probe_video, read_frames

log = logging.getLogger(__name__)

Runtime = Literal["auto", "torch", "bf16", "onnx", "openvino", "openvino-bf16"]
RUNTIMES: tuple[Runtime, ...] = ("auto", "torch", "bf16", "onnx", "openvino", "openvino-bf16")
EXPORTED: tuple[Engine, ...] = ("onnx", "openvino", "openvino-bf16")
"""The runtimes that run the exported graph."""
AGREEMENT_PX = 0.1
"""The farthest ``auto`` lets an exported runtime's keypoints be from torch's, in network-input pixels: the
scale the networks and decoders work at, whatever the video's size (subpixel maxima decode on a grid
of 1/100 heatmap pixel, so maps that differ by rounding can move a keypoint by one step of it,
0.04 input pixels, which is 0.25 frame pixels for a 64-pixel input on the 396-pixel toy video)."""
WORTH_COMPARING_S = 60.0
"""``auto`` keeps float32 torch, without comparing, for a video it would predict in less than this
(estimated from its first checked run): exporting and comparing took 4-9 s on the 994-frame toy
video, which made ``auto`` 0.7x torch there at 128x128 (BENCHMARKS.md)."""
CHECKED_RUNS = 4
"""How many runs of a batch of consecutive frames ``auto`` compares the runtimes on: from the video's
start to its end, evenly spaced (every frame of a video that short)."""


def with_runtime(model: TrainedModel, runtime: Runtime, video: Path, batch_size: int) -> TrainedModel:
    """``model`` as ``runtime`` runs it; ``auto`` compares the runtimes on ``CHECKED_RUNS`` runs of
    ``batch_size`` frames spread over ``video`` (logged: which, and why)."""
    if runtime not in RUNTIMES:
        raise PoseCloudError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    if runtime == "torch":
        return model
    if runtime == "bf16":
        if model.device.type == "cpu" and not cpu_has_bf16():
            log.warning(
                "%s: this CPU has no bf16 instructions: torch emulates bfloat16, slower than float32",
                model.name,
            )
        return _in_bf16(model)
    if runtime in EXPORTED:
        exported = OnnxModel.from_trained(model, runtime)
        if runtime == "openvino-bf16" and exported.session.precision != "bfloat16":  # OpenVINO's own word
            log.warning(
                "%s: this CPU has no bf16 instructions: OpenVINO predicts in float32 instead (as --runtime openvino)",
                model.name,
            )
        return exported
    return _fastest(model, Path(video), batch_size)


def describe_runtime(model: TrainedModel) -> str:
    """The runtime and version that predicts with ``model``, as a prediction records it."""
    if isinstance(model, OnnxModel):
        return runtime_version(model.session)
    precision = ", bf16 autocast" if model.cpu_bf16 or model.device.type == "cuda" else ""
    return f"torch {torch.__version__} ({model.device}{precision})"


def _fastest(model: TrainedModel, video: Path, batch_size: int) -> TrainedModel:
    """``auto``: torch on a GPU. On a CPU float32 torch predicts the first checked run twice (a
    warm-up, then timed); a video it would predict in under ``WORTH_COMPARING_S`` stays with it.
    Else each other float32 runtime does the same; then, fastest first, each one faster than torch
    is compared with it, on the first run and, if it agrees there, on the others; the first that
    agrees on all of them is kept (torch when none does). The slower ones are not compared: they
    could not be chosen."""
    if model.device.type != "cpu":
        log.info("%s: runtime torch: the model is on %s (bf16 autocast)", model.name, model.device)
        return model
    info = probe_video(video)
    runs = [(start, model.resize_for_model(frames)) for start, frames in _checked_runs(info, batch_size)]
    if not runs:  # the prediction itself reports the unreadable video
        return model
    first, speed = {}, {}
    first["torch"], speed["torch"] = _first_run(model, runs, info)
    torch_s = info.frame_count / speed["torch"]
    if torch_s < WORTH_COMPARING_S:
        log.info(
            "%s: runtime torch: %.1f frames/s, about %.0f s for the %d frames of %s; other runtimes "
            "are compared for videos of %.0f s or more",
            model.name,
            speed["torch"],
            torch_s,
            info.frame_count,
            info.path.name,
            WORTH_COMPARING_S,
        )
        return model
    candidates = {"torch": model, **_other_runtimes(model)}
    for name in candidates.keys() - {"torch"}:
        first[name], speed[name] = _first_run(candidates[name], runs, info)
    reference = None
    chosen, agreed = "torch", ""
    for name in sorted(candidates, key=speed.__getitem__, reverse=True):
        if name == "torch":
            break
        compared, apart = runs[:1], _apart(model, first["torch"], first[name], info)
        if apart <= AGREEMENT_PX and len(runs) > 1:  # False when NaN
            if reference is None:
                reference = _keypoints(model, runs[1:], info)
            compared = runs
            apart = max(apart, _apart(model, reference, _keypoints(candidates[name], runs[1:], info), info))
        if apart <= AGREEMENT_PX:
            chosen = name
            agreed = f"; its keypoints within {apart:.3g} input pixels of float32 torch's on {_where(compared, info)}"
            break
        log.warning(  # unexpected: the exported graph computes what torch computes
            "%s: runtime %s left out: its keypoints are up to %.3g input pixels from float32 torch's on %s "
            "(more than %s)",
            model.name,
            name,
            apart,
            _where(compared, info),
            AGREEMENT_PX,
        )
    log.info(
        "%s: runtime %s: %s%s",
        model.name,
        chosen,
        ", ".join(
            f"{name} {speed[name]:.1f} frames/s"
            for name in sorted(speed, key=speed.__getitem__, reverse=True)
        ),
        agreed,
    )
    return candidates[chosen]


def _where(runs: list[tuple[int, np.ndarray]], info: VideoInfo) -> str:
    """Which frames ``runs`` are, for the log."""
    spans = ", ".join(f"{start}-{start + len(frames) - 1}" for start, frames in runs)
    return f"{sum(len(frames) for _, frames in runs)} frames of {info.path.name} ({spans})"


def _first_run(
    model: TrainedModel, runs: list[tuple[int, np.ndarray]], info: VideoInfo
) -> tuple[np.ndarray, float]:
    """``model``'s keypoints on the first checked run (a warm-up), then its frames per second on
    the run predicted again."""
    keypoints = _keypoints(model, runs[:1], info)
    return keypoints, len(runs[0][1]) / _timed(model, runs[0][1], info.width, info.height)[0]


def _keypoints(model: TrainedModel, runs: list[tuple[int, np.ndarray]], info: VideoInfo) -> np.ndarray:
    """``model``'s keypoints on the model-sized ``runs``, each predicted as a video of its own, joined."""
    return np.concatenate([_timed(model, frames, info.width, info.height)[1][0] for _, frames in runs])


def _checked_runs(info: VideoInfo, batch_size: int) -> list[tuple[int, np.ndarray]]:
    """The runs of consecutive frames ``auto`` compares the runtimes on, each with its first frame's
    index: the whole video in batches when it is at most ``CHECKED_RUNS`` batches long, else
    ``CHECKED_RUNS`` batches from its start to its end (decoded from the nearest keyframe, not from
    the start). Consecutive, so that a context model sees each frame's neighbours."""
    if info.frame_count <= CHECKED_RUNS * batch_size:
        return [(i * batch_size, frames) for i, frames in enumerate(iter_batches(info.path, batch_size))]
    runs = []
    for start in np.linspace(0, info.frame_count - batch_size, CHECKED_RUNS).round().astype(int):
        try:
            runs.append((int(start), read_frames(info.path, int(start), batch_size)))
        except VideoError:  # a container that lists more frames than it holds: the rest are compared
            continue
    return runs


def _other_runtimes(model: TrainedModel) -> dict[str, TrainedModel]:
    """The float32 CPU runtimes ``auto`` tries besides torch: the exported graph's, where the model
    exports (else it says why not)."""
    engines: list[Engine] = [engine for engine in EXPORTED if not engine.endswith("bf16")]
    try:
        graph = export_onnx(model)
    except PoseCloudError as e:
        log.warning("%s: runtimes %s left out: %s", model.name, ", ".join(engines), e)
        return {}
    return {engine: OnnxModel.from_trained(model, engine, graph) for engine in engines}


def _in_bf16(model: TrainedModel) -> TrainedModel:
    """``model`` predicting under bfloat16 autocast on the CPU too (the network is shared)."""
    return dataclasses.replace(model, cpu_bf16=True)


def _apart(model: TrainedModel, reference: np.ndarray, xy: np.ndarray, info: VideoInfo) -> float:
    """The farthest keypoint of ``xy`` from ``reference`` (both in frame pixels), in network-input
    pixels (NaN when any is missing)."""
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
