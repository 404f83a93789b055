"""What a comparison build puts in FiftyOne, as plain local files: written by the job's handler
(which knows the database and storage) and read by the builder process (which alone imports
FiftyOne), so the worker slot never holds FiftyOne's process-wide connection."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

MEDIA_ROOT = "/posecloud-storage"
"""Samples name their media ``MEDIA_ROOT/<storage key>``; the service's proxy serves ``/media`` for
those paths from storage itself (only the project's frames and videos), never FiftyOne."""

RESULT_FILE = "fiftyone.json"  # the job's artifact: the datasets and saved views it made
LABELED_DATASET = "labeled-frames"
VIDEO_DATASET = "videos"
RESERVED_FIELDS = {"id", "filepath", "tags", "metadata", "media_type", "frames", "frame_number"}
RESERVED_FIELDS |= {"created_at", "last_modified_at", "ground_truth", "image", "view", "video"}


def media_path(key: str) -> str:
    return f"{MEDIA_ROOT}/{key}"


def field_name(name: str, taken: set[str]) -> str:
    """A FiftyOne field name for a model called ``name``: letters, digits and ``_``, not a
    built-in field nor one of ``taken`` (which it joins)."""
    field = re.sub(r"\W", "_", name, flags=re.ASCII).strip("_") or "model"
    if field[0].isdigit() or field in RESERVED_FIELDS:
        field = f"model_{field}"
    base, n = field, 2
    while field in taken or f"{field}_error" in taken:
        field, n = f"{base}_{n}", n + 1
    taken.add(field)
    return field


class Track(BaseModel):
    """One model's (or the EKS's) predictions: a DeepLabCut-style CSV (x, y, likelihood), and for a
    video the per frame x keypoint metric CSVs (temporal norm, PCA errors) by metric name."""

    name: str
    field: str
    predictions: Path
    metrics: dict[str, Path] = {}


class LabeledView(BaseModel):
    """The labeled frames of one view: its label file, the folder holding ``labeled-data/``, the
    media prefix of those images, and each chosen model's predictions of them."""

    view: str
    labels: Path
    data_dir: Path
    media_prefix: str
    tracks: list[Track]


class VideoPlan(BaseModel):
    """One predicted video: its media path and real frame size (pixels), and every track of it."""

    name: str
    video_id: int
    filepath: str
    width: int
    height: int
    fps: float
    frames: int
    tracks: list[Track]


class BuildPlan(BaseModel):
    keypoints: list[str]
    skeleton: list[tuple[str, str]]
    labeled: list[LabeledView]
    videos: list[VideoPlan]
    low_confidence: float = 0.5
    worst_frames: int = 20
