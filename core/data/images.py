"""Reading frames from disk and turning uint8 frames into normalised model input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from core.errors import LabelFormatError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def read_rgb(path: Path) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB; grayscale images are repeated over the 3 channels."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise LabelFormatError(f"cannot read image {path}: the file is missing, empty or not an image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def to_model_input(frames: torch.Tensor) -> torch.Tensor:
    """``(B, H, W, 3)`` uint8 -> ``(B, 3, H, W)`` float, ImageNet-normalised, channels-last memory.

    Windows of frames ``(B, F, H, W, 3)`` become ``(B, F, 3, H, W)`` (each frame channels-last).
    Runs on the frames' device, so uint8 frames can be moved to the GPU before the conversion.
    """
    x = frames.flatten(0, -4).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last).unflatten(0, frames.shape[:-3])
