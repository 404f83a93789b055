"""The unlabeled-video loader's DALI path: NVDEC decoding and resizing on the GPU (or DALI's CPU
decoder, VP8/VP9/MJPEG only), then the shared torch augmentation of ``core.data.unlabeled_batch``.

The windows come from the same seeded sampler as the OpenCV path, not from DALI's own shuffling
(which only mixes a buffer of ``initial_fill`` neighbouring sequences, so the first thousand
batches of a long project would all come from the start of its first video). They reach DALI as a
``file_list`` of exact frame ranges, ``windows_per_pipeline`` at a time; each such chunk gets a
fresh pipeline (DALI indexes each file once per process, so a rebuild costs well under a second).
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from core.data.unlabeled_batch import UnlabeledBatch, Window, checked_windows, make_batch
from core.errors import VideoError
from core.video.dali_reader import CPU_CODECS, _dali_failure, _link_dir, _versioned_path, dali_available
from core.video.reader import VideoInfo

if TYPE_CHECKING:
    from nvidia.dali import Pipeline


def _build_pipeline(
    links: Sequence[Path],
    windows: Sequence[Window],
    seq_len: int,
    size: tuple[int, int],
    device: Literal["cpu", "gpu"],
) -> Pipeline:
    """A pipeline whose n-th run returns window n as ``(frames (T, h, w, 3) uint8 RGB, video number
    (1,), frame numbers (T,))``."""
    from nvidia.dali import Pipeline, fn, types

    # One line per window: "file label first end" (frame numbers, end excluded); the label is the
    # video number. The links have no spaces, which the format cannot quote.
    with tempfile.NamedTemporaryFile("w", suffix=".txt", dir=_link_dir().name, delete=False) as listing:
        listing.writelines(f"{links[w.video]} {w.video} {w.start} {w.start + seq_len}\n" for w in windows)
    pipe = Pipeline(
        batch_size=1,
        num_threads=min(4, os.cpu_count() or 1),
        device_id=torch.cuda.current_device() if device == "gpu" else None,
        prefetch_queue_depth=2,
    )
    try:
        with pipe:
            frames, labels, numbers = fn.experimental.readers.video(
                device=device,
                file_list=listing.name,
                file_list_format="frames",
                file_list_include_end=False,
                sequence_length=seq_len,
                enable_frame_num="sequence",
                image_type=types.RGB,
                random_shuffle=False,
            )
            # The filters of core.video.dali_reader: closest to the OpenCV path's INTER_AREA.
            frames = fn.resize(
                frames,
                size=list(size),
                min_filter=types.INTERP_GAUSSIAN,
                mag_filter=types.INTERP_LINEAR,
                device=device,
            )
            pipe.set_outputs(frames, labels, numbers)
        pipe.build()  # reads the list
    finally:
        os.unlink(listing.name)
    return pipe


def iter_unlabeled_dali(
    videos: Sequence[VideoInfo],
    windows: Iterable[Window],
    seq_len: int,
    size: tuple[int, int],
    device: Literal["cpu", "gpu"],
    windows_per_pipeline: int = 1024,
) -> Iterator[UnlabeledBatch]:
    """One batch per window (the contract of ``core.data.unlabeled_batch``), decoded and resized by DALI.

    ``device="gpu"`` decodes with NVDEC and yields CUDA tensors (augmented on the GPU);
    ``device="cpu"`` reads only VP8/VP9/MJPEG. ``size`` is the model input ``(height, width)`` in
    pixels. The iterator ends when ``windows`` do. Missing DALI or CUDA, or a codec the CPU decoder
    cannot read, is a VideoError here, before any decoding.
    """
    if not dali_available():
        raise VideoError(
            "NVIDIA DALI is not installed; pip install nvidia-dali-cuda120, or use the CPU loader"
        )
    if device == "gpu" and not torch.cuda.is_available():
        raise VideoError("DALI GPU decoding needs a CUDA GPU and none is visible; use the CPU loader")
    if device == "cpu":
        for video in videos:
            if video.codec not in CPU_CODECS:
                raise VideoError(
                    f"{video.path.name} is {video.codec}, but DALI's CPU decoder reads only VP8/VP9/MJPEG; "
                    "use the CPU loader (OpenCV), or transcode the video to VP9 "
                    "(ffmpeg -i in.mp4 -c:v libvpx-vp9 out.webm)"
                )
    return _batches(videos, windows, seq_len, size, device, windows_per_pipeline)


def _batches(
    videos: Sequence[VideoInfo],
    windows: Iterable[Window],
    seq_len: int,
    size: tuple[int, int],
    device: Literal["cpu", "gpu"],
    windows_per_pipeline: int,
) -> Iterator[UnlabeledBatch]:
    """The batches of ``iter_unlabeled_dali``, one pipeline per ``windows_per_pipeline`` windows."""
    from nvidia.dali.plugin.pytorch import feed_ndarray

    links = [_versioned_path(v.path) for v in videos]
    target = torch.device("cuda", torch.cuda.current_device()) if device == "gpu" else torch.device("cpu")
    stream = torch.cuda.current_stream() if device == "gpu" else None
    pending = checked_windows(windows, videos, seq_len)
    while chunk := list(itertools.islice(pending, windows_per_pipeline)):
        names = ", ".join(sorted({videos[w.video].path.name for w in chunk}))
        try:
            pipe = _build_pipeline(links, chunk, seq_len, size, device)
        except RuntimeError as e:
            raise _dali_failure(names, e) from None
        for window in chunk:
            video = videos[window.video]
            try:
                frames, labels, numbers = pipe.run()
            except RuntimeError as e:
                raise _dali_failure(video.path.name, e) from None
            label = int(np.asarray(labels.as_cpu()[0])[0])
            expected = np.arange(window.start, window.start + seq_len)
            if label != window.video or not np.array_equal(np.asarray(numbers.as_cpu()[0]), expected):
                raise VideoError(
                    f"DALI did not read frames {window.start}..{expected[-1]} of {video.path.name} "
                    f"({video.frame_count} frames listed); the file may be corrupt: use the CPU loader "
                    "or re-encode it"
                )
            batch = torch.empty(frames[0].shape(), dtype=torch.uint8, device=target)
            feed_ndarray(frames[0], batch, cuda_stream=stream)
            yield make_batch(batch, window, video, target)
