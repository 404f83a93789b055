"""Unlabeled video for the semi-supervised losses: runs of consecutive frames from random places in
a project's videos, resized to the model input and augmented (``core.data.unlabeled_batch``).

A seeded sampler draws the windows (video, first frame, augmentation parameters), so the OpenCV
path here (CPU, frame-accurate seeking, decoded in a background thread) and the DALI path
(``core.data.unlabeled_dali``: NVDEC on a GPU, or DALI's CPU decoder for VP8/VP9/MJPEG) return
the same windows for the same seed and differ only by decoder and resize rounding.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from core.config import ProjectConfig, TrainConfig
from core.data.cameras import group_videos
from core.data.unlabeled_batch import (
    Augmentation,
    UnlabeledBatch,
    Window,
    checked_windows,
    draw_augmentation,
    make_batch,
)
from core.errors import VideoError
from core.video.dali_reader import Decoder, decodes_with_dali
from core.video.prefetch import prefetch
from core.video.reader import VideoInfo, probe_video

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
TRANSCODED_SUFFIX = ".cfr.mp4"  # worker/jobs/transcode.py: kept next to the original upload


def sample_windows(
    frame_counts: Sequence[int],
    seq_len: int,
    seed: int,
    augment: bool = True,
    sessions: Sequence[Sequence[int]] | None = None,
) -> Iterator[Window]:
    """Endless seeded windows: every start of every session equally likely (sessions shorter than
    ``seq_len`` are never drawn), with random augmentation unless ``augment`` is False.

    ``sessions`` groups the videos of separate synchronized cameras (video numbers, one per view);
    a draw then yields one window per view in that order, all with the same frames and each with its
    own augmentation. Default: every video is a session of its own.
    """
    sessions = [[v] for v in range(len(frame_counts))] if sessions is None else sessions
    lengths = np.array([min(frame_counts[v] for v in videos) for videos in sessions], dtype=np.int64)
    starts = np.maximum(lengths - seq_len + 1, 0)
    if starts.sum() == 0:
        raise VideoError(
            f"no video has {seq_len} frames (frame counts: {list(frame_counts)}); "
            "add longer videos or use a shorter unlabeled sequence length"
        )
    rng = np.random.default_rng(seed)
    weights = starts / starts.sum()

    def draw() -> Iterator[Window]:
        while True:
            session = int(rng.choice(len(weights), p=weights))
            start = int(rng.integers(starts[session]))
            for video in sessions[session]:
                yield Window(video, start, draw_augmentation(rng) if augment else Augmentation())

    return draw()


def join_views(batches: Iterator[UnlabeledBatch], views: int) -> Iterator[UnlabeledBatch]:
    """Batches of separate cameras: every ``views`` consecutive batches (one window per view of one
    draw of ``sample_windows``) become one, ``frames`` ``(views * T, 3, h, w)`` view-major and
    ``affine`` ``(views, 3, 3)``. Closing it closes ``batches``."""
    try:
        while len(group := list(itertools.islice(batches, views))) == views:
            yield {
                "frames": torch.cat([b["frames"] for b in group]),
                "affine": torch.stack([b["affine"] for b in group]),
                "video": " + ".join(b["video"] for b in group),
                "frame_indices": group[0]["frame_indices"],
            }
    finally:
        close = getattr(batches, "close", None)
        if close:
            close()


def _read_window(capture: cv2.VideoCapture, video: VideoInfo, start: int, seq_len: int) -> np.ndarray:
    """Frames ``start .. start + seq_len - 1`` as ``(T, H, W, 3)`` uint8 RGB; seeks unless the
    capture is already there (OpenCV seeks to the keyframe before and decodes forward: exact)."""
    if int(capture.get(cv2.CAP_PROP_POS_FRAMES)) != start:
        capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = []
    for _ in range(seq_len):
        ok, frame = capture.read()
        if not ok:
            raise VideoError(
                f"could not decode frames {start}..{start + seq_len - 1} of {video.path.name} (the container "
                f"lists {video.frame_count}); the file may be truncated or corrupt: re-export it"
            )
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    return np.stack(frames)


def iter_unlabeled_opencv(
    videos: Sequence[VideoInfo],
    windows: Iterable[Window],
    seq_len: int,
    size: tuple[int, int],
    device: torch.device | str = "cpu",
) -> Iterator[UnlabeledBatch]:
    """One batch per window, decoded with OpenCV (any codec FFmpeg reads) in a background thread.

    ``size`` is the model input ``(height, width)`` in pixels (resized with INTER_AREA, like the
    labeled frames); the batches' tensors are on ``device``. The iterator ends when ``windows`` do;
    closing it stops the thread and releases the videos.
    """
    height, width = size
    target = torch.device(device)

    def produce() -> Iterator[UnlabeledBatch]:
        captures: dict[int, cv2.VideoCapture] = {}
        try:
            for window in checked_windows(windows, videos, seq_len):
                video = videos[window.video]
                if window.video not in captures:
                    capture = cv2.VideoCapture(str(video.path))
                    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)  # as stored, like reader.iter_frames
                    if not capture.isOpened():
                        raise VideoError(f"cannot open {video.path.name} for decoding")
                    captures[window.video] = capture
                frames = _read_window(captures[window.video], video, window.start, seq_len)
                resized = np.stack(
                    [cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames]
                )
                yield make_batch(torch.from_numpy(resized), window, video, target)
        finally:
            for capture in captures.values():
                capture.release()

    return prefetch(produce())


def project_videos(project: ProjectConfig) -> list[Path]:
    """The videos in the project's ``video_dir`` (under ``data_dir``), sorted; where a transcoded
    ``<name>.cfr.mp4`` sits next to its original upload, only the transcoded copy."""
    folder = Path(project.data_dir) / project.video_dir
    files = sorted(
        p
        for p in (folder.iterdir() if folder.is_dir() else ())
        if p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )
    transcoded = {p.name.removesuffix(TRANSCODED_SUFFIX) for p in files if p.name.endswith(TRANSCODED_SUFFIX)}
    videos = [p for p in files if p.name.endswith(TRANSCODED_SUFFIX) or p.stem not in transcoded]
    if not videos:
        raise VideoError(
            f"no videos ({', '.join(VIDEO_SUFFIXES)}) in {folder}; semi-supervised training needs the "
            "project's videos there (or train without the unsupervised losses)"
        )
    return videos


def make_unlabeled_loader(
    project: ProjectConfig,
    train: TrainConfig,
    device: torch.device | str,
    seq_len: int = 32,
    *,
    seed: int | None = None,
    videos: Sequence[str | Path] | None = None,
    decoder: Decoder = "auto",
) -> Iterator[UnlabeledBatch]:
    """Endless augmented batches of ``seq_len`` consecutive frames (Lightning Pose trains with 32)
    from random places in the project's videos, at ``train``'s input size, on ``device``.

    ``decoder="auto"`` uses DALI when ``device`` is CUDA and DALI is installed (decoding, resizing
    and augmentation stay on the GPU), else OpenCV in a background thread; ``"dali"`` on a CPU
    device uses DALI's CPU decoder (VP8/VP9/MJPEG only). ``seed`` defaults to ``train.seed``;
    ``videos`` to ``project_videos(project)``. Call ``next()`` once per training step; ``close()``
    stops the background work.
    """
    device = torch.device(device)
    paths = list(videos if videos is not None else project_videos(project))
    sessions = group_videos(paths, project.views)
    paths = [p for session in sessions for p in session]
    infos = [probe_video(p) for p in paths]
    views = len(project.views)
    windows = sample_windows(
        [i.frame_count for i in infos],
        seq_len,
        train.seed if seed is None else seed,
        sessions=[list(range(n * views, (n + 1) * views)) for n in range(len(sessions))],
    )
    size = (train.image_height, train.image_width)
    if decodes_with_dali(decoder, device):
        from core.data.unlabeled_dali import iter_unlabeled_dali

        dali_device = "gpu" if device.type == "cuda" else "cpu"
        log.info("unlabeled frames: %d videos, DALI on the %s", len(infos), dali_device)
        batches = iter_unlabeled_dali(infos, windows, seq_len, size, dali_device)
    else:
        log.info("unlabeled frames: %d videos, OpenCV on the CPU", len(infos))
        batches = iter_unlabeled_opencv(infos, windows, seq_len, size, device)
    return join_views(batches, views) if views > 1 else batches
