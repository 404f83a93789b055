"""Video probing (PyAV: container metadata) and CPU frame decoding (OpenCV: measured fastest here,
0.52 s vs PyAV's 1.14 s for the 994-frame toy video); one frame by seeking with PyAV, which reads
from a file object too (a video in remote storage, read only where the decoder seeks)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import cv2
import numpy as np

from core.errors import VideoError


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: float
    frame_count: int
    codec: str
    variable_frame_rate: bool


def probe_video(path: str | Path) -> VideoInfo:
    """Read size, frame rate, frame count and codec; a clear VideoError for anything unusable.

    The frame count comes from the container when it records one, otherwise from counting the
    packets (no decoding). A variable frame rate is reported, not rejected: frames are read in
    order, one prediction row each.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"video not found: {path}")
    if path.stat().st_size == 0:
        raise VideoError(f"{path.name} is empty (0 bytes); upload the video again")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path.name} has no video stream; is it an audio or data file?")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            rate = stream.average_rate or stream.guessed_rate
            frames = stream.frames or sum(1 for p in container.demux(stream) if p.size)
            guessed = stream.guessed_rate
            vfr = bool(rate and guessed and abs(float(rate) - float(guessed)) > 0.01 * float(guessed))
            codec = stream.codec_context.name
    except VideoError:
        raise
    except av.error.EOFError:
        raise VideoError(f"{path.name} has no video frames (the file ends before the first frame)") from None
    except (av.error.FFmpegError, ValueError, OSError) as e:
        raise VideoError(
            f"{path.name} is not a readable video ({e}); it may be corrupt or truncated. "
            "Re-export it (e.g. ffmpeg -i in.avi -c:v libx264 -pix_fmt yuv420p out.mp4) and try again."
        ) from None
    if not width or not height:
        raise VideoError(f"{path.name}: the video stream has no frame size; the file is probably corrupt")
    if frames == 0:
        raise VideoError(f"{path.name} has no video frames")
    return VideoInfo(path, width, height, float(rate or 0.0), frames, codec, vfr)


def iter_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Decode every frame in order as ``(H, W, 3)`` uint8 RGB."""
    capture = cv2.VideoCapture(str(path))
    # Frames as stored, like PyAV's size in probe_video and DALI: coordinates stay in one frame of
    # reference even for phone videos tagged with a rotation.
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
    if not capture.isOpened():
        raise VideoError(f"cannot open {Path(path).name} for decoding")
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def read_frame(source: str | Path | BinaryIO, index: int) -> np.ndarray:
    """Frame ``index`` (from 0) as ``(H, W, 3)`` uint8 RGB, as stored (no rotation applied).

    Seeks to the keyframe at or before the frame's time and decodes from there: one frame in an
    all-keyframe video, such as the transcoded copy of an upload. ``source`` is a path or a seekable
    binary file (e.g. a file of remote storage opened through fsspec), of which only the container's
    index and the packets from that keyframe to the frame are read.
    """
    return read_frames(source, index, 1)[0]


def read_frames(source: str | Path | BinaryIO, start: int, count: int) -> np.ndarray:
    """Frames ``start`` to ``start + count - 1`` as ``(B, H, W, 3)`` uint8 RGB, found as ``read_frame``
    finds one; fewer when the video ends first (an error when it ends before ``start``)."""
    is_path = isinstance(source, str | Path)
    name = Path(source).name if is_path else "the video"
    frames: list[np.ndarray] = []
    try:
        with av.open(str(source) if is_path else source) as container:
            stream = container.streams.video[0]
            if stream.frames and not 0 <= start < stream.frames:
                raise VideoError(
                    f"{name} has frames 0 to {stream.frames - 1}; frame {start} is not one of them"
                )
            # a frame's duration and frame ``start``'s presentation time, in the stream's time base
            frame_time = 1 / ((stream.average_rate or stream.guessed_rate) * stream.time_base)
            target = (stream.start_time or 0) + start * frame_time
            container.seek(round(target), stream=stream)
            for frame in container.decode(stream):
                if frame.pts is not None and frame.pts >= target - frame_time / 2:
                    frames.append(frame.to_ndarray(format="rgb24"))
                    if len(frames) == count:
                        break
    except (av.error.FFmpegError, ValueError, OSError) as e:
        raise VideoError(f"cannot decode frame {start} of {name} ({e}); the file may be truncated") from None
    if not frames:
        raise VideoError(f"{name} ended before frame {start}; the file may be truncated")
    return np.stack(frames)


def iter_batches(path: str | Path, batch_size: int) -> Iterator[np.ndarray]:
    """Consecutive frames as ``(B, H, W, 3)`` uint8 arrays (the last batch may be shorter)."""
    batch: list[np.ndarray] = []
    for frame in iter_frames(path):
        batch.append(frame)
        if len(batch) == batch_size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)
