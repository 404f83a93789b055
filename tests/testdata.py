"""Paths to the real data in ../shared/data, and small videos made by the tests."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TOY = SHARED_DATA / "mirror-mouse-example"
TOY_VIDEO = TOY / "videos" / "test_vid.mp4"
EXAMPLE_PROJECT = REPO / "examples" / "mirror-mouse" / "project.yaml"


def write_video(
    path: Path,
    frames: np.ndarray,
    fps: int = 30,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    pts: list[int] | None = None,
) -> Path:
    """Encode ``(N, H, W, 3)`` uint8 frames; ``pts`` (in 1/1000 s) makes a variable frame rate."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        if pts is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


# A tiny training run on the toy data: seconds on a CPU, enough to exercise every step.
TINY = {
    "backbone": "resnet18",
    "pretrained": "none",
    "image_height": 64,
    "image_width": 64,
    "epochs": 2,
    "batch_size": 8,
    "val_every_n_epochs": 1,
    "lr_milestones": [1],
    "freeze_backbone_epochs": 0,
}
