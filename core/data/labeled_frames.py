"""The labeled frames of a project as a torch Dataset, with a seeded train/validation/test split."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from core.config import ProjectConfig, TrainConfig
from core.data.augment import apply_augmentation, build_augmentation, flip_horizontally, resize_frame
from core.data.cameras import check_rows_aligned
from core.data.context_window import CONTEXT_OFFSETS
from core.data.images import read_rgb
from core.errors import LabelFormatError
from core.labels.formats import read_labels
from core.labels.table import PoseTable, check_keypoints_match

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
DECODED_BYTES = 1 << 30
"""Decoded images a dataset keeps in memory (each data-loading worker its own): the same frames are
read every epoch, and decoding a PNG took a fifth of preparing an augmented item on the 2-core
machine. Past this, images are read from disk each time."""
_FRAME_NUMBER = re.compile(r"(.*?)(\d+)")


def context_paths(path: Path) -> list[Path]:
    """The image files of frames t-2..t+2 around the labeled frame ``path`` (frame t).

    A name ending in a number (``img0042.png``) has neighbours with the same prefix, width of
    zero-padded number and extension in the same folder (``img0040.png`` .. ``img0044.png``); the
    frame itself stands in for a neighbour that does not exist, and for all of them when the name
    holds no frame number.
    """
    match = _FRAME_NUMBER.fullmatch(path.stem)
    if match is None:
        return [path] * len(CONTEXT_OFFSETS)
    prefix, digits = match.groups()
    number = int(digits)
    neighbours = [
        path.with_name(f"{prefix}{number + offset:0{len(digits)}d}{path.suffix}")
        if number + offset >= 0
        else path
        for offset in CONTEXT_OFFSETS
    ]
    return [n if n.is_file() else path for n in neighbours]


def read_window(paths: list[Path]) -> np.ndarray:
    """``(F, H, W, 3)`` uint8 frames read from ``paths`` (see ``context_paths``), which must share one size."""
    frames = [read_rgb(p) for p in paths]
    sizes = [f"{p.name}: {f.shape[1]}x{f.shape[0]}" for p, f in zip(paths, frames, strict=True)]
    if len({f.shape for f in frames}) > 1:
        raise LabelFormatError(
            f"the context frames in {paths[0].parent} differ in size ({', '.join(sizes)} pixels); "
            "a labeled frame's neighbouring images must be frames of the same video"
        )
    return np.stack(frames)


def _report_missing_context(paths: list[Path], windows: list[list[Path]]) -> None:
    """Log how many labeled frames lack neighbouring image files (their centre frame stands in)."""
    lacking = [p for p, window in zip(paths, windows, strict=True) if window.count(p) > 1]
    if lacking:
        log.warning(
            "context model: %d of %d labeled frames lack some of their context frames t-2..t+2 (e.g. %s); "
            "the frame itself stands in. Extract frames with their context (suggest-frames --extract) "
            "to give the temporal head real neighbours.",
            len(lacking),
            len(paths),
            lacking[0],
        )


def load_project_labels(project: ProjectConfig) -> list[PoseTable]:
    """The project's labels, one table per view (one for a single camera), in project keypoint order,
    after checking names, image files and (separate cameras) that the views' rows are aligned."""
    tables = [_load_view_labels(project, path) for path in project.labels_paths]
    if project.separate_cameras:
        check_rows_aligned([t.index for t in tables], project.views, project.labels_paths)
    return tables


def _load_view_labels(project: ProjectConfig, path: Path) -> PoseTable:
    table = read_labels(path)
    check_keypoints_match(project.keypoints, table.keypoints, source=str(path))
    table = table.select_keypoints(project.keypoints)
    missing = [name for name in table.index if not (project.data_dir / name).is_file()]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise LabelFormatError(
            f"{len(missing)} labeled image(s) listed in {path} are missing under {project.data_dir}: {shown}. "
            "Restore the images or remove their rows from the label file."
        )
    if len(table.index) == 0:
        raise LabelFormatError(f"{path} has no labeled frames; label some frames first")
    return table


def split_frames(
    images: Sequence[str], train_fraction: float, val_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """Split label rows into train / validation / test (sorted row arrays), each frame placed by a
    seeded hash of its image name rather than by its row: rows ranked by their hash, the lowest
    train, the next validate, the highest test. Adding or removing frames moves only frames whose
    hash lies near a boundary (at most about one per frame added or removed), so labeling rounds
    measure test error on nearly the same frames, and never train on most of them.

    The sizes are the fractions of the rows, and every split that is asked for gets at least one
    frame when there are enough frames.
    """
    n_frames = len(images)
    order = np.argsort([_unit_hash(f"{seed}:{image}") for image in images], kind="stable")
    n_train = max(1, int(round(train_fraction * n_frames)))
    n_val = int(round(val_fraction * n_frames))
    if val_fraction > 0 and n_frames - n_train >= 1:
        n_val = max(1, n_val)
    n_val = min(n_val, n_frames - n_train)
    return {
        "train": np.sort(order[:n_train]),
        "validation": np.sort(order[n_train : n_train + n_val]),
        "test": np.sort(order[n_train + n_val :]),
    }


def _unit_hash(text: str) -> float:
    """A number in [0, 1) that only ``text`` decides (the same on every machine and run)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


class LabeledFrames(Dataset):
    """Items: ``image (H, W, 3)`` uint8 tensor at the model input size, ``keypoints (K, 2)`` float32
    in model-input pixels (NaN where missing), ``frame_size (2,)`` int64 the width and height in
    pixels of the frame the image was resized from (after augmentation, which keeps the size), so
    that model-input pixels map back to frame pixels (``core.data.augment.scale_points``), ``row``
    the label-table row and ``view`` its index.

    With separate cameras every view's image of a row is an item of its own (views of one frame
    differ by the camera, as other frames do by posture; one network learns them all), so there are
    ``len(rows) x views`` items. For the context model ``image`` is ``(5, H, W, 3)``: frames
    t-2..t+2 (``context_paths``), all flipped, augmented and resized alike; the keypoints are frame t's.
    """

    def __init__(
        self,
        project: ProjectConfig,
        labels: list[PoseTable],
        rows: np.ndarray,
        train: TrainConfig,
        augment: bool,
    ) -> None:
        self.items = [(int(r), v) for r in rows for v in range(len(labels))]
        self.paths = [Path(project.data_dir) / labels[v].index[r] for r, v in self.items]
        self.windows = [context_paths(p) for p in self.paths] if train.uses_context else None
        if self.windows is not None:
            _report_missing_context(self.paths, self.windows)
        self.keypoints = np.array([labels[v].xy[r] for r, v in self.items])
        self.height, self.width = train.image_height, train.image_width
        self.transform = build_augmentation(train.augmentation if augment else "none")
        self.flip_pairs = (
            [tuple(project.index_of(list(p))) for p in project.flip_pairs] if train.flip and augment else None
        )
        self.decoded: dict[int, np.ndarray] = {}
        self.decoded_bytes = 0

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, i: int) -> np.ndarray:
        """Item ``i``'s image (or window of frames), decoded once while ``DECODED_BYTES`` allow;
        a kept one is handed out as a copy, which augmentation may change."""
        if i in self.decoded:
            return self.decoded[i].copy()
        image = read_rgb(self.paths[i]) if self.windows is None else read_window(self.windows[i])
        if self.decoded_bytes + image.nbytes > DECODED_BYTES:
            return image
        self.decoded[i] = image
        self.decoded_bytes += image.nbytes
        return image.copy()

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        image = self.image(i)
        keypoints = self.keypoints[i]
        # torch.rand, not a numpy generator: torch seeds each loader worker differently
        if self.flip_pairs is not None and torch.rand(()) < 0.5:
            image, keypoints = flip_horizontally(image, keypoints, self.flip_pairs)
        image, keypoints = apply_augmentation(self.transform, image, keypoints)
        frame_size = torch.tensor([image.shape[-2], image.shape[-3]])
        image, keypoints = resize_frame(image, keypoints, self.height, self.width)
        row, view = self.items[i]
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image)),
            "keypoints": torch.from_numpy(keypoints.astype(np.float32)),
            "frame_size": frame_size,
            "row": torch.tensor(row),
            "view": torch.tensor(view),
        }
