"""Video decoding with NVIDIA DALI: NVDEC on a GPU (H.264, H.265, AV1, VP8/9, MPEG-4, MJPEG), or
FFmpeg on the CPU, where DALI reads only VP8, VP9 and MJPEG.

One DALI pipeline serves both devices: ``fn.experimental.readers.video`` reads the file as
consecutive, non-overlapping sequences of ``batch_size`` frames (one sequence per pipeline run),
pads the last sequence with blank frames numbered -1, and an optional ``fn.resize`` scales the
frames on the same device.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from core.errors import ConfigError, VideoError
from core.video.reader import probe_video

if TYPE_CHECKING:
    from nvidia.dali import Pipeline

CPU_CODECS = ("vp8", "vp9", "mjpeg")  # FFmpeg codec names DALI's CPU decoder accepts
_READER = "video_reader"


@functools.cache
def dali_available() -> bool:
    """True when NVIDIA DALI (``nvidia-dali-cuda120``) can be imported."""
    try:
        import nvidia.dali  # noqa: F401
    except ImportError:
        return False
    return True


Decoder = Literal["auto", "opencv", "dali"]
"""Which reader decodes a video for a network: OpenCV (``core.video.reader``), DALI (here), or
``auto``, see ``decodes_with_dali``."""


def decodes_with_dali(decoder: Decoder, device: torch.device) -> bool:
    """Whether frames for a network on ``device`` are read by DALI: asked for, or ``auto`` with the
    network on CUDA and DALI installed (the frames then never leave the GPU)."""
    return decoder == "dali" or (decoder == "auto" and device.type == "cuda" and dali_available())


@functools.cache
def _link_dir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="posecloud-dali-")  # removed when the process exits


def _versioned_path(path: Path) -> Path:
    """A link to ``path`` named after the file's identity and version.

    DALI keeps each file's frame index for the life of the process, keyed by the path string, so a
    video rewritten at the same path would be read with the old index; the link gets a fresh one.
    """
    st = path.stat()
    link = Path(_link_dir().name) / f"{st.st_dev}-{st.st_ino}-{st.st_size}-{st.st_mtime_ns}{path.suffix}"
    with contextlib.suppress(FileExistsError):  # made by an earlier call
        link.symlink_to(path.resolve())
    return link


def _build_pipeline(
    path: Path, sequence_length: int, device: Literal["cpu", "gpu"], resize_to: tuple[int, int] | None
) -> Pipeline:
    """A pipeline whose every run returns ``(frames (F, H, W, 3) uint8 RGB, frame numbers (F,))``."""
    from nvidia.dali import Pipeline, fn, types

    pipe = Pipeline(
        batch_size=1,
        num_threads=min(4, os.cpu_count() or 1),
        device_id=torch.cuda.current_device() if device == "gpu" else None,
        prefetch_queue_depth=2,
    )
    with pipe:
        frames, numbers = fn.experimental.readers.video(
            device=device,
            filenames=[str(path)],
            sequence_length=sequence_length,
            step=sequence_length,
            pad_mode="constant",  # keeps the final partial sequence; padded frames are numbered -1
            enable_frame_num="sequence",
            image_type=types.RGB,
            random_shuffle=False,
            name=_READER,
        )
        if resize_to is not None:
            # Closest DALI gets to OpenCV's INTER_AREA (measured on the toy video's frames: mean
            # difference 0.2-0.3 levels vs 0.3-0.8 for linear with antialiasing): a Gaussian low-pass
            # when shrinking, bilinear when enlarging (as INTER_AREA does).
            frames = fn.resize(
                frames,
                size=list(resize_to),
                min_filter=types.INTERP_GAUSSIAN,
                mag_filter=types.INTERP_LINEAR,
                device=device,
            )
        pipe.set_outputs(frames, numbers)
    pipe.build()
    return pipe


def _dali_failure(name: str, error: RuntimeError) -> VideoError:
    """DALI's long error text cut down to its cause, with what to do."""
    text = str(error)
    cause = text.split("encountered:", 1)[-1].strip().splitlines()[0].rstrip(".") if text else "unknown error"
    return VideoError(
        f"DALI could not decode {name}: {cause}. Decode it with the OpenCV reader "
        "(core.video.reader.iter_batches); if that fails too, the file is corrupt: re-export it."
    )


def iter_batches_dali(
    path: str | Path,
    batch_size: int,
    device: Literal["cpu", "gpu"],
    resize_to: tuple[int, int] | None = None,
) -> Iterator[torch.Tensor]:
    """Every frame once, in order, as ``(B, H, W, 3)`` uint8 RGB tensors (the last batch may be shorter).

    ``device="gpu"`` decodes with NVDEC and yields CUDA tensors; ``device="cpu"`` yields CPU tensors
    and reads only VP8/VP9/MJPEG. ``resize_to=(height, width)`` (pixels) resizes on that device.
    Each batch is a tensor of its own (copied, on its device, out of DALI's reused buffers), so it
    stays valid while later batches are decoded.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    if resize_to is not None and (len(resize_to) != 2 or min(resize_to) < 1):
        raise ConfigError(f"resize_to must be (height, width) in pixels, both >= 1; got {resize_to}")
    info = probe_video(path)
    if not dali_available():
        raise VideoError(
            "NVIDIA DALI is not installed; pip install nvidia-dali-cuda120, or use the OpenCV reader"
        )
    if device == "gpu" and not torch.cuda.is_available():
        raise VideoError(
            "DALI GPU decoding needs a CUDA GPU and none is visible; use device='cpu' or the OpenCV reader"
        )
    if device == "cpu" and info.codec not in CPU_CODECS:
        raise VideoError(
            f"{info.path.name} is {info.codec}, but DALI's CPU decoder reads only VP8/VP9/MJPEG; "
            "use the OpenCV reader (core.video.reader.iter_batches) or a GPU (device='gpu')"
        )
    from nvidia.dali.plugin.pytorch import feed_ndarray

    try:
        pipe = _build_pipeline(_versioned_path(info.path), batch_size, device, resize_to)
    except RuntimeError as e:
        raise _dali_failure(info.path.name, e) from None
    stream = torch.cuda.current_stream() if device == "gpu" else None
    target = torch.device("cuda", torch.cuda.current_device()) if device == "gpu" else torch.device("cpu")
    for start in range(0, info.frame_count, batch_size):
        try:
            frames, numbers = pipe.run()
        except RuntimeError as e:
            raise _dali_failure(info.path.name, e) from None
        count = min(batch_size, info.frame_count - start)
        index = np.asarray(numbers.as_cpu()[0])
        if not np.array_equal(index[:count], np.arange(start, start + count)) or (index[count:] >= 0).any():
            raise VideoError(
                f"DALI did not read frames {start}..{start + count - 1} of {info.path.name} as the container "
                f"lists them ({info.frame_count} frames); the file may be corrupt: decode it with the OpenCV "
                "reader (core.video.reader.iter_batches) or re-encode it"
            )
        batch = torch.empty(frames[0].shape(), dtype=torch.uint8, device=target)
        feed_ndarray(frames[0], batch, cuda_stream=stream)
        yield batch[:count]
