"""The labeled frames of a project as a torch Dataset, with a seeded train/validation/test split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from core.config import ProjectConfig, TrainConfig
from core.data.augment import apply_augmentation, build_augmentation, flip_horizontally, resize_frame
from core.data.images import read_rgb
from core.errors import LabelFormatError
from core.labels.formats import read_labels
from core.labels.table import PoseTable, check_keypoints_match

SPLITS = ("train", "validation", "test")


def load_project_labels(project: ProjectConfig) -> PoseTable:
    """The project's labels in project keypoint order, after checking names and image files."""
    path = project.data_dir / project.labels_file
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
    n_frames: int, train_fraction: float, val_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """Seeded random split of frame indices into train / validation / test (sorted index arrays).

    Every split that is asked for gets at least one frame when there are enough frames.
    """
    order = np.random.default_rng(seed).permutation(n_frames)
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


class LabeledFrames(Dataset):
    """Items: ``image (H, W, 3)`` uint8 tensor at the model input size, ``keypoints (K, 2)`` float32
    in model-input pixels (NaN where missing), ``row`` the label-table row."""

    def __init__(
        self,
        project: ProjectConfig,
        labels: PoseTable,
        rows: np.ndarray,
        train: TrainConfig,
        augment: bool,
    ) -> None:
        self.paths = [Path(project.data_dir) / labels.index[r] for r in rows]
        self.keypoints = labels.xy[rows]
        self.rows = np.asarray(rows)
        self.height, self.width = train.image_height, train.image_width
        self.transform = build_augmentation(train.augmentation if augment else "none")
        self.flip_pairs = (
            [tuple(project.index_of(list(p))) for p in project.flip_pairs] if train.flip and augment else None
        )

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        image, keypoints = read_rgb(self.paths[i]), self.keypoints[i]
        # torch.rand, not a numpy generator: torch seeds each loader worker differently
        if self.flip_pairs is not None and torch.rand(()) < 0.5:
            image, keypoints = flip_horizontally(image, keypoints, self.flip_pairs)
        image, keypoints = apply_augmentation(self.transform, image, keypoints)
        image, keypoints = resize_frame(image, keypoints, self.height, self.width)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image)),
            "keypoints": torch.from_numpy(keypoints.astype(np.float32)),
            "row": torch.tensor(self.rows[i]),
        }
