"""One window of unlabeled frames as the semi-supervised losses take it: the contract both decoders
of ``core.data.unlabeled`` follow (the OpenCV path there, the DALI path in
``core.data.unlabeled_dali``), and the shared torch code that turns a window's decoded frames into a
batch.

A *window* names a video, its first frame and augmentation parameters; a decoder turns it into
``seq_len`` frames at the model input size, ``(T, h, w, 3)`` uint8; ``make_batch`` then warps them,
changes brightness/contrast, adds shot noise and normalises them, on the training device, and
records the affine that maps frame pixels to model-input pixels so that predictions can be mapped
back before the losses.

Pixel coordinates follow the pixel-centre convention of ``core.data.augment.scale_points``: pixel
``(i, j)`` is the point ``x = j, y = i``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
import torch
import torch.nn.functional as F

from core.data.images import to_model_input
from core.errors import ConfigError
from core.video.reader import VideoInfo

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
    same frames of each view's video; see ``core.data.unlabeled.join_views``).

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
