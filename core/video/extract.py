"""Write picked video frames (and their context frames) as PNG images for labeling."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np

from core.atomic import atomic_open
from core.errors import VideoError
from core.video.reader import iter_frames, probe_video


def frame_image_path(video: str | Path, frame: int) -> Path:
    """``labeled-data/<video stem>/img<frame, 8 digits>.png``, relative to the project folder."""
    return Path("labeled-data") / Path(video).stem / f"img{frame:08d}.png"


def extract_frames(
    video: str | Path,
    frames: Iterable[int],
    dest_dir: str | Path,
    context: int = 2,
    name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Save each picked frame and its ``context`` neighbours on each side (clipped at the video's ends)
    as lossless PNGs under ``dest_dir`` (see ``frame_image_path``; ``name`` replaces the video's file
    name there), decoding the video once, in order.

    ``progress(picked frames written, picked frames)`` is called after each decoded frame, so that
    a callback that raises (a cancelled job) stops the decoding between two far-apart picks too.

    Returns:
        the written image paths, in frame order.
    """
    info = probe_video(video)
    chosen = {int(f) for f in frames}
    picked = sorted(chosen)
    outside = [f for f in picked if not 0 <= f < info.frame_count]
    if outside:
        raise VideoError(
            f"frames {outside} are outside {info.path.name}, which has frames 0 to {info.frame_count - 1}; "
            "were the frames picked from predictions of another video?"
        )
    wanted = sorted(
        {t for f in picked for t in range(max(0, f - context), min(info.frame_count, f + context + 1))}
    )
    written: list[Path] = []
    decoded = picks_written = 0
    for image in iter_frames(video):
        if len(written) == len(wanted):
            break
        if decoded == wanted[len(written)]:
            written.append(_write_png(Path(dest_dir) / frame_image_path(name or video, decoded), image))
            if decoded in chosen:
                picks_written += 1
        decoded += 1
        if progress:
            progress(picks_written, len(picked))
    if len(written) < len(wanted):
        raise VideoError(
            f"{info.path.name} ended after {decoded} decoded frames, before frame {wanted[len(written)]}; "
            "the file may be truncated. Re-export it and try again."
        )
    return written


def _write_png(path: Path, image: np.ndarray) -> Path:
    """Write an ``(H, W, 3)`` uint8 RGB image atomically (temporary file, then rename)."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise VideoError(f"could not encode frame image {path.name} as PNG")
    with atomic_open(path) as handle:
        handle.write(encoded.tobytes())
    return path
