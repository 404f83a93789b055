"""What a check of labeled frames says: the reasons a frame is flagged and every frame's z-scores.
Shared by the checks of label quality control (``label_qc``) and what they return."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Z_FLAG = 5.0
"""Robust z-score from which a check flags a frame. For normal data a 1-D z reaches 5 once in 1.7
million and a keypoint's 2-D distance once in 270,000; labels have heavier tails. On the
mirror-mouse toy labels as they are, 5 flags 7 of the 90 frames: two with two paws clicked at one
point, five unusual poses (a tail curled up) or doubtful labels; 4 flags 12, 6 flags 5. On planted
errors it finds nearly every left/right swap and about 60 % of keypoints moved by 15-40 px, at a
precision of about 0.5 (``benchmarks/label_qc.py``)."""

Kind = Literal["swap", "pose", "edge", "angle", "outside", "duplicate"]
DEFINITE: tuple[Kind, ...] = ("outside", "duplicate")
"""Kinds that are wrong whatever the other labels are; they carry no z."""


@dataclass(frozen=True)
class QCReason:
    """Why a frame is flagged.

    Attributes:
        kind: which check.
        keypoints: the keypoints it is about.
        detail: one line for a person, with the numbers (pixels, ratios, degrees).
        z: the check's robust z-score; None for a definite problem (``DEFINITE``).
    """

    kind: Kind
    keypoints: tuple[str, ...]
    detail: str
    z: float | None = None


@dataclass(frozen=True)
class Checked:
    """A family of checks run on every frame.

    Attributes:
        z: ``(frames, checks)`` robust z-scores, NaN where a check does not apply (a keypoint missing).
        about: the keypoints each check (column of ``z``) is about.
        reasons: per frame, the checks it fails.
        notes: checks that could not run, and why.
    """

    z: np.ndarray
    about: list[tuple[str, ...]]
    reasons: list[list[QCReason]]
    notes: list[str]
