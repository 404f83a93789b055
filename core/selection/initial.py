"""Frames worth labeling first, before any model exists: varied postures, not near-duplicates.

The Lightning Pose app's recipe: thumbnails 64 px wide, keep the frames whose motion energy (mean
absolute change from the previous frame) is at least the median (the animal is doing something),
project them on up to 32 principal components, k-means with one cluster per wanted frame, and take
the frame nearest each cluster's centre.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

import cv2
import numpy as np

from core.errors import VideoError
from core.pca import principal_subspace
from core.selection.outliers import excluded_frames, kmeans_labels
from core.video.reader import iter_frames, probe_video

THUMBNAIL_WIDTH = 64
MAX_COMPONENTS = 32


def thumbnails(video: str | Path, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """``(frames, h, 64)`` float32 grey thumbnails of every frame; ``progress(frames read, frames
    the container lists)`` after each frame."""
    total = probe_video(video).frame_count
    thumbs = []
    for frame in iter_frames(video):
        height = max(1, round(frame.shape[0] * THUMBNAIL_WIDTH / frame.shape[1]))
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        thumbs.append(cv2.resize(grey, (THUMBNAIL_WIDTH, height), interpolation=cv2.INTER_AREA))
        if progress:
            progress(len(thumbs), total)
    if not thumbs:
        raise VideoError(f"{Path(video).name}: no frame could be decoded; the video is probably corrupt")
    return np.stack(thumbs).astype(np.float32)


def pick_initial_frames(
    video: str | Path,
    n: int,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    exclude: Collection[int] = (),
) -> list[int]:
    """``n`` frame numbers (sorted) spread over the postures of ``video``, none of ``exclude`` (frames
    labeled already, or picked before and waiting for a labeler).

    Reading the video is most of the time: ``progress(frames read, frames the container lists)`` is
    called after each frame (a callback that raises, e.g. for a cancelled job, stops the reading).
    """
    thumbs = thumbnails(video, progress)
    allowed = ~excluded_frames(exclude, len(thumbs))
    if n > allowed.sum():
        taken = f" ({len(thumbs) - allowed.sum()} labeled or picked already)" if not allowed.all() else ""
        raise VideoError(
            f"{Path(video).name} has {allowed.sum()} frames to pick from{taken}; cannot pick {n}. "
            "Ask for fewer frames"
        )
    energy = np.abs(np.diff(thumbs, axis=0)).mean(axis=(1, 2))
    energy = np.concatenate([energy[:1], energy])  # frame 0 has no predecessor: use frame 1's change
    candidates = np.flatnonzero((energy >= np.median(energy)) & allowed)
    if len(candidates) < n:
        candidates = np.flatnonzero(allowed)
    rows = posture_picks(thumbs[candidates].reshape(len(candidates), -1), n, seed)
    return sorted(int(candidates[r]) for r in rows)


def posture_picks(images: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` rows of ``images`` (``(rows, pixels)``, flattened thumbnails) spread over the postures:
    projected on up to ``MAX_COMPONENTS`` principal components, k-means with ``n`` clusters, the row
    nearest each centre; clusters left empty are made up by the rows farthest from every pick."""
    mean, axes, _ = principal_subspace(images, min(MAX_COMPONENTS, len(images)))
    projected = (images - mean) @ axes.T
    labels = kmeans_labels(projected, n, seed)
    picks = []
    for cluster in np.unique(labels):
        members = np.flatnonzero(labels == cluster)
        centre = projected[members].mean(axis=0)
        picks.append(int(members[np.argmin(np.linalg.norm(projected[members] - centre, axis=1))]))
    while len(picks) < n:
        distance = np.linalg.norm(projected[:, None] - projected[picks][None], axis=-1).min(axis=1)
        picks.append(int(np.argmax(distance)))
    return np.asarray(picks)
