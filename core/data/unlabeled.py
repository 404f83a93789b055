"""Unlabeled video for the semi-supervised losses: runs of consecutive frames from random places in
a project's videos, resized to the model input and augmented, with the affine that maps frame
pixels to model-input pixels so predictions can be mapped back before the losses.

Both decoders follow one contract. A seeded sampler draws *windows* (video, first frame,
augmentation parameters); a decoder turns each window into ``seq_len`` frames at the model input
size, ``(T, h, w, 3)`` uint8; the shared torch code in ``augment_frames`` then warps them, changes
brightness/contrast, adds shot noise and normalises them, on the training device. So the OpenCV
path (CPU, frame-accurate seeking, decoded in a background thread) and the DALI path
(``core.data.unlabeled_dali``: NVDEC on a GPU, or DALI's CPU decoder for VP8/VP9/MJPEG) return
the same windows for the same seed and differ only by decoder and resize rounding.

Pixel coordinates follow the pixel-centre convention of ``core.data.augment.scale_points``: pixel
``(i, j)`` is the point ``x = j, y = i``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.config import ProjectConfig, TrainConfig
from core.data.cameras import group_videos
from core.data.images import to_model_input
from core.errors import ConfigError, VideoError
from core.predict.video import Decoder, _prefetch
from core.video.dali_reader import dali_available
from core.video.reader import VideoInfo, probe_video

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
TRANSCODED_SUFFIX = ".cfr.mp4"  # worker/handlers.py `transcode`: kept next to the original upload

# Lightning Pose's unlabeled-frame augmentation (its DALI pipeline), drawn once per window.
ROTATION_DEG = 10.0  # uniform in +-10 degrees about the input centre
SCALE_RANGE = (0.8, 1.2)  # per axis, independently
BRIGHTNESS_RANGE = (0.75, 1.25)
CONTRAST_RANGE = (0.75, 1.25)
SHOT_NOISE_RANGE = (0.0, 10.0)  # grey levels per Poisson event
CONTRAST_CENTRE = 128.0  # grey level unchanged by contrast (DALI's brightness_contrast default)


@dataclass(frozen=True)
class Augmentation:
    """One window's augmentation; the default is none (the deterministic mode).

    ``rotation`` in degrees and ``scale`` (x, y) about the model-input centre; the output is
    ``brightness * (128 + contrast * (v - 128))`` for grey level ``v``, then shot noise of variance
    ``v * noise`` (``noise`` in grey levels per Poisson event, 0 = none) drawn with ``seed``.
    """

    rotation: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    brightness: float = 1.0
    contrast: float = 1.0
    noise: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class Window:
    """Frames ``start .. start + seq_len - 1`` of video number ``video`` (index into the loader's list)."""

    video: int
    start: int
    augmentation: Augmentation = Augmentation()


class UnlabeledBatch(TypedDict):
    """What both loaders yield, one window per batch (separate cameras: one window per view, the
    same frames of each view's video; see ``join_views``).

    - ``frames``: ``(T, 3, h, w)`` float32 (separate cameras: ``(V * T, 3, h, w)``, view-major),
      ImageNet-normalised like the labeled batches after ``to_model_input``, channels-last memory,
      on the training device.
    - ``affine``: ``(3, 3)`` float32 (separate cameras: ``(V, 3, 3)``) on the same device, frame
      pixels -> model-input pixels (``[x', y', 1] = affine @ [x, y, 1]``); see ``to_frame_pixels``.
    - ``video``: the video's file name (separate cameras: the views' names joined by " + ").
    - ``frame_indices``: ``(T,)`` int64 (CPU), the frame numbers, consecutive.
    """

    frames: torch.Tensor
    affine: torch.Tensor
    video: str
    frame_indices: torch.Tensor


def draw_augmentation(rng: np.random.Generator) -> Augmentation:
    """Random parameters in Lightning Pose's ranges (rotation, per-axis scale, brightness, contrast, noise)."""
    return Augmentation(
        rotation=float(rng.uniform(-ROTATION_DEG, ROTATION_DEG)),
        scale=(float(rng.uniform(*SCALE_RANGE)), float(rng.uniform(*SCALE_RANGE))),
        brightness=float(rng.uniform(*BRIGHTNESS_RANGE)),
        contrast=float(rng.uniform(*CONTRAST_RANGE)),
        noise=float(rng.uniform(*SHOT_NOISE_RANGE)),
        seed=int(rng.integers(2**62)),
    )


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


def resize_matrix(from_width: int, from_height: int, to_width: int, to_height: int) -> np.ndarray:
    """``(3, 3)`` pixel map between two sizes of one image (``scale_points``: ``(x + 0.5) * s - 0.5``)."""
    sx, sy = to_width / from_width, to_height / from_height
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])


def augmentation_matrix(augmentation: Augmentation, height: int, width: int) -> np.ndarray:
    """``(3, 3)`` model-input pixels -> augmented model-input pixels: rotation then per-axis scale
    about the image centre ``((width - 1) / 2, (height - 1) / 2)``."""
    angle = np.deg2rad(augmentation.rotation)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    linear = np.diag(augmentation.scale) @ rotation
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    matrix = np.eye(3)
    matrix[:2, :2], matrix[:2, 2] = linear, centre - linear @ centre
    return matrix


def _warp(images: torch.Tensor, matrix: np.ndarray) -> torch.Tensor:
    """Warp ``(T, 3, h, w)`` float images by ``matrix`` (output pixel = matrix @ input pixel),
    bilinear, black outside the input."""
    _, _, h, w = images.shape
    inverse = torch.as_tensor(np.linalg.inv(matrix), dtype=torch.float32, device=images.device)
    ys, xs = torch.meshgrid(
        torch.arange(h, device=images.device), torch.arange(w, device=images.device), indexing="ij"
    )
    out_xy1 = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).float()  # (h, w, 3)
    source = out_xy1 @ inverse[:2].T  # (h, w, 2) input pixels (x, y)
    size = torch.tensor([w, h], dtype=torch.float32, device=images.device)
    grid = (2 * source + 1) / size - 1  # grid_sample's [-1, 1] with align_corners=False
    return F.grid_sample(
        images, grid.expand(len(images), h, w, 2), mode="bilinear", padding_mode="zeros", align_corners=False
    )


def augment_frames(frames: torch.Tensor, augmentation: Augmentation) -> torch.Tensor:
    """``(T, h, w, 3)`` uint8 model-sized frames -> augmented ``(T, 3, h, w)`` model input.

    Runs on the frames' device; the output is float32, ImageNet-normalised, channels-last.
    """
    _, h, w, _ = frames.shape
    x = frames.permute(0, 3, 1, 2).float()
    matrix = augmentation_matrix(augmentation, h, w)
    if not np.allclose(matrix, np.eye(3)):
        x = _warp(x, matrix)
    if (augmentation.brightness, augmentation.contrast) != (1.0, 1.0):
        x = augmentation.brightness * (CONTRAST_CENTRE + augmentation.contrast * (x - CONTRAST_CENTRE))
    x = x.clamp_(0, 255)
    if augmentation.noise > 0:
        # Shot noise by its normal approximation (mean v, variance v * noise: Poisson's); 10x
        # cheaper than torch.poisson on a CPU, and the same once v / noise passes ~10 events.
        generator = torch.Generator(device=x.device).manual_seed(augmentation.seed)
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        x = x.add_(noise.mul_(x.mul(augmentation.noise).sqrt_())).clamp_(0, 255)
    return to_model_input(x.permute(0, 2, 3, 1))


def to_frame_pixels(points: torch.Tensor, affine: torch.Tensor) -> torch.Tensor:
    """Map model-input pixels back to frame pixels with the inverse of a batch's ``affine``.

    Args:
        points: ``(..., K, 2)`` model-input pixels (x, y); NaN stays NaN.
        affine: ``(3, 3)``, or ``(..., 3, 3)`` whose leading dimensions broadcast against the
            points' ``...`` (e.g. ``(B, 1, 3, 3)`` for points ``(B, T, K, 2)``).
    Returns:
        ``(..., K, 2)`` frame pixels, in the points' dtype and device.
    """
    inverse = torch.linalg.inv(affine.to(points.device, torch.float64)).to(points.dtype)
    return points @ inverse[..., :2, :2].transpose(-1, -2) + inverse[..., None, :2, 2]


def checked_windows(windows: Iterable[Window], videos: Sequence[VideoInfo], seq_len: int) -> Iterator[Window]:
    """``windows``, each checked to lie inside its video (a ConfigError saying which frames otherwise)."""
    if seq_len < 1:
        raise ConfigError(f"seq_len must be at least 1, got {seq_len}")
    for window in windows:
        if not 0 <= window.video < len(videos):
            raise ConfigError(f"a window names video {window.video}, but there are {len(videos)} videos")
        count = videos[window.video].frame_count
        if not 0 <= window.start <= count - seq_len:
            raise ConfigError(
                f"a window's frames {window.start}..{window.start + seq_len - 1} are not all inside "
                f"{videos[window.video].path.name} ({count} frames)"
            )
        yield window


def make_batch(
    frames: torch.Tensor, window: Window, video: VideoInfo, device: torch.device
) -> UnlabeledBatch:
    """Augment a window's model-sized ``(T, h, w, 3)`` uint8 frames on ``device`` into a batch."""
    _, h, w, _ = frames.shape
    affine = augmentation_matrix(window.augmentation, h, w) @ resize_matrix(video.width, video.height, w, h)
    return {
        "frames": augment_frames(frames.to(device, non_blocking=True), window.augmentation),
        "affine": torch.as_tensor(affine, dtype=torch.float32, device=device),
        "video": video.path.name,
        "frame_indices": torch.arange(window.start, window.start + len(frames)),
    }


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

    return _prefetch(produce())


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
    if decoder == "dali" or (decoder == "auto" and device.type == "cuda" and dali_available()):
        from core.data.unlabeled_dali import iter_unlabeled_dali

        dali_device = "gpu" if device.type == "cuda" else "cpu"
        log.info("unlabeled frames: %d videos, DALI on the %s", len(infos), dali_device)
        batches = iter_unlabeled_dali(infos, windows, seq_len, size, dali_device)
    else:
        log.info("unlabeled frames: %d videos, OpenCV on the CPU", len(infos))
        batches = iter_unlabeled_opencv(infos, windows, seq_len, size, device)
    return join_views(batches, views) if views > 1 else batches
