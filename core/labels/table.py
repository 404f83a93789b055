"""The in-memory pose table shared by every label and prediction format."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.errors import LabelFormatError

LABEL_FIELDS = ("x", "y")
PREDICTION_FIELDS = ("x", "y", "likelihood")


@dataclass
class PoseTable:
    """Keypoint coordinates for a list of frames.

    Attributes:
        keypoints: keypoint (body part) names, in column order.
        index: one entry per row: an image path relative to the project
            (labels, e.g. ``labeled-data/vid/img001.png``) or a frame number (predictions).
        values: ``(rows, keypoints, fields)`` float64 array, pixel units; NaN where missing.
        fields: the per-keypoint columns, e.g. ``("x", "y")`` or ``("x", "y", "likelihood")``.
        scorer: the DeepLabCut "scorer" header value.
        extra: per-row extra columns (e.g. ``{"set": ["train", ...]}``), written after
            the keypoint columns.
    """

    keypoints: list[str]
    index: list[str]
    values: np.ndarray
    fields: tuple[str, ...] = LABEL_FIELDS
    scorer: str = "posecloud"
    extra: dict[str, list] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64)
        self.fields = tuple(self.fields)
        expected = (len(self.index), len(self.keypoints), len(self.fields))
        if self.values.shape != expected:
            raise ValueError(f"values has shape {self.values.shape}, expected {expected}")
        if len(set(self.keypoints)) != len(self.keypoints):
            dupes = sorted({k for k in self.keypoints if self.keypoints.count(k) > 1})
            raise LabelFormatError(f"keypoint names repeat: {dupes}; each body part needs a unique name")
        for name, column in self.extra.items():
            if len(column) != len(self.index):
                raise ValueError(f"extra column {name!r} has {len(column)} rows, expected {len(self.index)}")

    @property
    def xy(self) -> np.ndarray:
        """``(rows, keypoints, 2)`` view of the x and y coordinates."""
        return self.values[:, :, [self.fields.index("x"), self.fields.index("y")]]

    def field(self, name: str) -> np.ndarray:
        """``(rows, keypoints)`` values of one field (e.g. ``"likelihood"``)."""
        return self.values[:, :, self.fields.index(name)]

    def select_keypoints(self, names: list[str]) -> PoseTable:
        """A table with only ``names``, in that order; a clear error for unknown names."""
        check_keypoints_match(names, self.keypoints, allow_subset=True)
        order = [self.keypoints.index(n) for n in names]
        return PoseTable(
            list(names),
            list(self.index),
            self.values[:, order],
            self.fields,
            self.scorer,
            {k: list(v) for k, v in self.extra.items()},
        )


def check_keypoints_match(
    expected: list[str], found: list[str], *, allow_subset: bool = False, source: str = "the label file"
) -> None:
    """Raise a LabelFormatError naming the missing and unexpected keypoints."""
    missing = [k for k in expected if k not in found]
    unexpected = [] if allow_subset else [k for k in found if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if unexpected:
            parts.append(f"not in the project {unexpected}")
        raise LabelFormatError(
            f"keypoint names in {source} do not match the project: {'; '.join(parts)}. "
            "Rename the body parts in the file or edit the project's keypoints so they agree."
        )
