"""Predict every frame of a video into a DeepLabCut-style CSV (x, y, likelihood per keypoint)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from core.errors import VideoError
from core.labels.table import PREDICTION_FIELDS, PoseTable
from core.predict.frame_stream import join_keypoints
from core.predict.oom import HalvingBatches
from core.predict.trained_model import TrainedModel
from core.video.dali_reader import Decoder, decodes_with_dali, iter_batches_dali
from core.video.prefetch import prefetch
from core.video.reader import VideoInfo, iter_batches, probe_video

log = logging.getLogger(__name__)


def model_sized_batches(
    model: TrainedModel, info: VideoInfo, batch_size: int, decoder: Decoder
) -> Iterator[np.ndarray | torch.Tensor]:
    """Frames resized to the model input, ``(B, h, w, 3)`` uint8.

    ``auto`` decodes with DALI on the GPU when the model runs on CUDA and DALI is installed (frames
    never leave the GPU), else with OpenCV in a background thread. ``dali`` on a CPU model uses
    DALI's CPU decoder (VP8/VP9/MJPEG only).
    """
    size = (model.train.image_height, model.train.image_width)
    if decodes_with_dali(decoder, model.device):
        device = "gpu" if model.device.type == "cuda" else "cpu"
        return iter_batches_dali(info.path, batch_size, device, resize_to=size)
    return prefetch(model.resize_for_model(b) for b in iter_batches(info.path, batch_size))


def predict_video(
    model: TrainedModel,
    video: str | Path,
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
    decoder: Decoder = "auto",
) -> tuple[PoseTable, VideoInfo]:
    """Predict keypoints for every frame, in video pixels (whatever the training frame size).

    Frames are decoded once, ``batch_size`` at a time; the context model predicts each frame from
    a sliding window t-2..t+2 (see ``core.predict.frame_stream``). A CUDA out-of-memory error
    halves the batch the network sees and carries on (logged).

    Returns a PoseTable with one row per decoded frame (index = frame number) and the video's info.
    """
    info = probe_video(video)
    stream = model.frame_stream(info.width, info.height)
    halving = HalvingBatches(batch_size, f"prediction of {info.path.name}")
    parts, done = [], 0
    for inputs in model_sized_batches(model, info, batch_size, decoder):
        parts += halving.map(stream.push, inputs)
        done += len(inputs)
        if progress:
            progress(done, info.frame_count)
    if done == 0:
        raise VideoError(f"{info.path.name}: no frame could be decoded; the video is probably corrupt")
    if done != info.frame_count:
        log.warning(
            "%s: the container lists %d frames, %d were decoded", info.path.name, info.frame_count, done
        )
    xy, confidence = join_keypoints([*parts, stream.finish()])
    values = np.concatenate([xy, confidence[..., None]], axis=-1)
    table = PoseTable(
        list(model.project.keypoints), [str(i) for i in range(done)], values, PREDICTION_FIELDS, model.name
    )
    return table, info
