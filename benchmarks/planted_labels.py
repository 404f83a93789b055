"""Planted label errors on real projects, for judging label quality control
(``core/plausibility/label_qc.py``) against known truth.

A fraction of a project's labeled frames get their left/right keypoints swapped (one flip pair, or
every pair of the frame), and as many other frames one keypoint moved 15-40 px in a random
direction, seeded. ``score`` compares the frames QC flags with the planted ones. Used by
``benchmarks/label_qc.py`` and ``tests/core/plausibility/test_label_qc.py`` (as
``benchmarks.planted_labels``).

The datasets are the real labels in ``../shared/data``: the mirror-mouse toy project (90 frames,
17 keypoints in a side and a bottom view; its left/right paws as flip pairs: the project file lists
none and the names, ``paw1LH``/``paw4RH``, are not mirror-symmetric words) and the DeepLabCut
reaching example (55 frames, 5 keypoints, no left/right pair: moves only).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from core.config import ProjectConfig, load_project
from core.labels.formats import read_labels
from core.labels.table import PoseTable
from core.plausibility.label_qc import LabelQC

REPO = Path(__file__).resolve().parents[1]
MIRROR_MOUSE_PROJECT = REPO / "examples" / "mirror-mouse" / "project.yaml"
REACHING = REPO.parent / "shared" / "data" / "dlc-reaching"
REACHING_LABELS = REACHING / "labeled-data" / "reachingvideo1" / "CollectedData_Mackenzie.csv"

FRACTION = 0.05
"""Of the labeled frames, swapped and (as many others) moved."""
MOVE_PX = (15.0, 40.0)
"""A moved keypoint goes this far (uniform, pixels) in a uniformly random direction."""
MIN_SWAP_PX = 15.0
"""A swap is planted only on a pair this far apart (pixels): two keypoints closer than the
smallest planted move (left and right paws overlapping in a side view) swap into nearly the same
labels, not an error to find."""

SwapMode = Literal["pair", "all"]


@dataclass(frozen=True)
class Dataset:
    """A project and its labels as they are.

    Attributes:
        name: short name (tables, test ids).
        project: keypoints, skeleton, flip pairs; ``data_dir`` holds the labeled images.
        labels: the labels.
    """

    name: str
    project: ProjectConfig
    labels: PoseTable


def mirror_mouse() -> Dataset:
    """The mirror-mouse toy project, its left/right paws (in each view) as flip pairs."""
    project = load_project(MIRROR_MOUSE_PROJECT)
    pairs = [(f"{left}_{view}", f"{right}_{view}") for view in ("top", "bot") for left, right in PAW_PAIRS]
    project = project.model_copy(update={"flip_pairs": pairs})
    return Dataset("mirror-mouse", project, read_labels(project.data_dir / project.labels_file))


PAW_PAIRS = (("paw1LH", "paw4RH"), ("paw2LF", "paw3RF"))
"""The mirror-mouse's left and right hind and front paws."""


def reaching() -> Dataset:
    """The DeepLabCut reaching example: hand, finger, tongue, two joystick points (its config.yaml's
    skeleton), no left/right pair."""
    labels = read_labels(REACHING_LABELS)
    project = ProjectConfig(
        name="reaching",
        keypoints=labels.keypoints,
        skeleton=[("Hand", "Finger1"), ("Joystick1", "Joystick2")],
        data_dir=REACHING,
    )
    return Dataset("dlc-reaching", project, labels)


@dataclass(frozen=True)
class Planted:
    """Labels with planted errors.

    Attributes:
        labels: the labels, errors planted.
        kinds: each changed frame's index entry -> ``"swap"`` or ``"move"``.
        moved_px: each moved frame's index entry -> how far its keypoint moved, pixels.
    """

    labels: PoseTable
    kinds: dict[str, str]
    moved_px: dict[str, float]


def plant_errors(
    labels: PoseTable,
    flip_pairs: list[tuple[str, str]],
    seed: int,
    swap: SwapMode = "pair",
    fraction: float = FRACTION,
) -> Planted:
    """Swap the left/right keypoints of ``fraction`` of the frames (``swap="pair"``: one flip pair
    drawn among those at least ``MIN_SWAP_PX`` apart; ``"all"``: every labeled pair, in a frame
    with one such) and move one labeled keypoint of as many other frames by ``MOVE_PX``.
    No swaps without ``flip_pairs``."""
    rng = np.random.default_rng(seed)
    xy = labels.xy.copy()
    count = max(1, round(fraction * len(xy)))
    pairs = [(labels.keypoints.index(a), labels.keypoints.index(b)) for a, b in flip_pairs]
    kinds: dict[str, str] = {}
    moved: dict[str, float] = {}
    for frame in rng.permutation(len(xy)):
        if len(kinds) == count:
            break
        labeled = [(a, b) for a, b in pairs if np.isfinite(xy[frame, [a, b]]).all()]
        apart = [(a, b) for a, b in labeled if np.linalg.norm(xy[frame, a] - xy[frame, b]) >= MIN_SWAP_PX]
        if apart:
            for a, b in labeled if swap == "all" else [apart[rng.integers(len(apart))]]:
                xy[frame, [a, b]] = xy[frame, [b, a]]
            kinds[labels.index[frame]] = "swap"
    others = [frame for frame in rng.permutation(len(xy)) if labels.index[frame] not in kinds]
    for frame in others[:count]:
        keypoint = rng.choice(np.flatnonzero(np.isfinite(xy[frame]).all(axis=1)))
        angle, distance = rng.uniform(0, 2 * np.pi), rng.uniform(*MOVE_PX)
        xy[frame, keypoint] += distance * np.array([np.cos(angle), np.sin(angle)])
        kinds[labels.index[frame]] = "move"
        moved[labels.index[frame]] = distance
    values = labels.values.copy()
    values[..., [labels.fields.index("x"), labels.fields.index("y")]] = xy
    planted = PoseTable(labels.keypoints, list(labels.index), values, labels.fields, labels.scorer)
    return Planted(planted, kinds, moved)


@dataclass(frozen=True)
class Score:
    """The frames QC flags on planted labels against the planted errors.

    Attributes:
        planted: the planted errors.
        flagged: the frames flagged.
        named: the planted swaps flagged with a swap among their reasons (the right reason).
    """

    planted: Planted
    flagged: frozenset[str]
    named: frozenset[str]


def score(qc: LabelQC, planted: Planted) -> Score:
    """How the frames ``qc`` flags on ``planted.labels`` match the planted errors."""
    flagged = {frame.frame: frame for frame in qc.frames if frame.flagged}
    named = {
        f
        for f, kind in planted.kinds.items()
        if kind == "swap" and f in flagged and any(r.kind == "swap" for r in flagged[f].reasons)
    }
    return Score(planted, frozenset(flagged), frozenset(named))


@dataclass(frozen=True)
class Totals:
    """Scores summed over seeds, counted in frames.

    Attributes:
        planted: planted frames by kind.
        found: planted frames flagged, by kind.
        named: planted swaps flagged as swaps.
        flagged: frames flagged.
        false: frames flagged without a planted error (the labels' own errors included).
        known: of those, frames with a known error in the labels as given.
        moves: ``(distance moved in pixels, flagged)`` of every planted move.
    """

    planted: Counter
    found: Counter
    named: int
    flagged: int
    false: int
    known: int
    moves: list[tuple[float, bool]]

    def recall(self, kind: str | None = None) -> float:
        """Of the planted frames (of ``kind``), the fraction flagged."""
        kinds = [kind] if kind else list(self.planted)
        return sum(self.found[k] for k in kinds) / max(sum(self.planted[k] for k in kinds), 1)

    @property
    def precision(self) -> float:
        """Of the flagged frames, the fraction with a planted error."""
        return (self.flagged - self.false) / max(self.flagged, 1)

    @property
    def precision_known_excused(self) -> float:
        """The precision, not counting flags on the known errors of the labels as given."""
        return (self.flagged - self.false) / max(self.flagged - self.known, 1)

    def move_recall(self, low: float, high: float) -> tuple[float, int]:
        """The fraction of moves by ``low`` to ``high`` pixels flagged, and how many there were."""
        flags = [flagged for distance, flagged in self.moves if low <= distance < high]
        return sum(flags) / max(len(flags), 1), len(flags)


def totals(scores: list[Score], known: frozenset[str] = frozenset()) -> Totals:
    """``scores`` summed; ``known``: the frames with an error in the labels as given (see ``Totals``)."""
    planted, found = Counter(), Counter()
    moves = []
    for s in scores:
        planted.update(s.planted.kinds.values())
        found.update(kind for f, kind in s.planted.kinds.items() if f in s.flagged)
        moves += [(distance, f in s.flagged) for f, distance in s.planted.moved_px.items()]
    false = [s.flagged - s.planted.kinds.keys() for s in scores]
    return Totals(
        planted=planted,
        found=found,
        named=sum(len(s.named) for s in scores),
        flagged=sum(len(s.flagged) for s in scores),
        false=sum(len(f) for f in false),
        known=sum(len(f & known) for f in false),
        moves=moves,
    )
