"""Predict every frame of a video into a DeepLabCut-style CSV (x, y, likelihood per keypoint)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from core.errors import VideoError
from core.labels.dlc_csv import write_pose_csv
from core.labels.table import PREDICTION_FIELDS, PoseTable
from core.predict.trained_model import TrainedModel
from core.video.reader import VideoInfo, iter_batches, probe_video

log = logging.getLogger(__name__)


def _prefetch(batches: Iterator[np.ndarray], depth: int = 2) -> Iterator[np.ndarray]:
    """Run ``batches`` (decode + resize) in a thread so the model never waits for frames."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    done = object()

    def produce() -> None:
        try:
            for item in batches:
                slots.put(item)
        except BaseException as e:  # re-raised in the consumer
            slots.put(e)
        slots.put(done)

    threading.Thread(target=produce, daemon=True).start()
    while (item := slots.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item


def predict_video(
    model: TrainedModel,
    video: str | Path,
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[PoseTable, VideoInfo]:
    """Predict keypoints for every frame, in video pixels (whatever the training frame size).

    Returns a PoseTable with one row per decoded frame (index = frame number) and the video's info.
    """
    info = probe_video(video)
    resized = (model.resize_for_model(b) for b in iter_batches(info.path, batch_size))
    xy_parts, conf_parts, done = [], [], 0
    for inputs in _prefetch(resized):
        xy, confidence = model.predict_resized(inputs, info.width, info.height)
        xy_parts.append(xy)
        conf_parts.append(confidence)
        done += len(inputs)
        if progress:
            progress(done, info.frame_count)
    if done == 0:
        raise VideoError(f"{info.path.name}: no frame could be decoded; the video is probably corrupt")
    if done != info.frame_count:
        log.warning(
            "%s: the container lists %d frames, %d were decoded", info.path.name, info.frame_count, done
        )
    values = np.concatenate([np.concatenate(xy_parts), np.concatenate(conf_parts)[..., None]], axis=-1)
    table = PoseTable(
        list(model.project.keypoints), [str(i) for i in range(done)], values, PREDICTION_FIELDS, model.name
    )
    return table, info


def predict_video_to_csv(
    model: TrainedModel, video: str | Path, out_csv: str | Path, batch_size: int = 16
) -> Path:
    table, _ = predict_video(model, video, batch_size)
    return write_pose_csv(table, out_csv)
