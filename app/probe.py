"""Validate an uploaded video with ``ffprobe`` and read its stream properties."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from core.errors import ConfigError, VideoError

_IMAGE_FORMATS = ("image2", "_pipe")
_STREAM_FIELDS = "codec_name,width,height,avg_frame_rate,r_frame_rate,nb_frames,nb_read_packets"


@dataclass(frozen=True)
class VideoInfo:
    """The first video stream of a file: frame rate (frames/s), frame count, size (pixels), codec."""

    fps: float
    frames: int
    width: int
    height: int
    codec: str


def require_ffprobe() -> str:
    """Path of the ``ffprobe`` executable; raises ConfigError when FFmpeg is not installed."""
    exe = shutil.which("ffprobe")
    if exe is None:
        raise ConfigError("ffprobe was not found on PATH: install FFmpeg (e.g. `apt-get install ffmpeg`)")
    return exe


def _rate(stream: dict) -> float:
    for key in ("avg_frame_rate", "r_frame_rate"):
        num, _, den = str(stream.get(key, "0/0")).partition("/")
        if num.isdigit() and den.isdigit() and int(den) > 0 and int(num) > 0:
            return float(Fraction(int(num), int(den)))
    return 0.0


def probe_video(path: Path, display_name: str) -> VideoInfo:
    """Read the first video stream of ``path``, demuxing every packet to catch truncated files.

    Raises VideoError (naming ``display_name``) for files that are not videos, still images,
    truncated or without a frame rate.
    """
    cmd = [require_ffprobe(), "-v", "error", "-count_packets", "-select_streams", "v:0", "-of", "json"]
    cmd += ["-show_entries", f"stream={_STREAM_FIELDS}:format=format_name", str(path)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        last_line = (result.stderr.strip().splitlines() or ["unknown format"])[-1]
        reason = last_line.replace(str(path), display_name)
        raise VideoError(f"{display_name} is not a readable video ({reason}); upload an MP4, AVI or MKV file")
    data = json.loads(result.stdout or "{}")
    streams = data.get("streams") or []
    if not streams:
        raise VideoError(f"{display_name} has no video stream; upload a video file")
    fmt = data.get("format", {}).get("format_name", "")
    if any(tag in fmt for tag in _IMAGE_FORMATS):
        raise VideoError(f"{display_name} is a still image ({fmt}), not a video; upload a video file")
    s = streams[0]
    read = int(s.get("nb_read_packets") or 0)
    declared = int(s.get("nb_frames") or 0) or read
    if read == 0:
        raise VideoError(f"{display_name} contains no video frames; upload a video with at least one frame")
    if read < declared:
        raise VideoError(
            f"{display_name} is truncated or corrupt: its header promises {declared} frames but only {read} "
            "could be read; upload the complete file"
        )
    fps = _rate(s)
    if fps <= 0:
        raise VideoError(f"{display_name} has no frame rate; re-encode it with a constant frame rate")
    width, height = int(s["width"]), int(s["height"])
    return VideoInfo(fps=fps, frames=declared, width=width, height=height, codec=s["codec_name"])
