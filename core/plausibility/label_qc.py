"""Quality control of labeled frames: each frame's labels against the project's other labels, so
that the frames likely labeled wrong can be reviewed first.

A frame is flagged, with its reasons, for

- **swap**: left and right keypoints (the project's ``flip_pairs``, else mirror-symmetric names)
  that fit the rest of the pose much better exchanged (``pose_checks``);
- **pose**: a keypoint far from where the other keypoints put it (``pose_checks``);
- **edge**, **angle**: a skeleton edge's length, or the angle between two edges, far from usual
  (``skeleton_checks``);
- **outside**: a keypoint outside the frame (a negative coordinate where the frame size is unknown);
- **duplicate**: two keypoints at the same point that are usually apart.

The first four are robust z-scores (``robust``): the project's few wrong labels cannot widen what
counts as usual. Edges and angles between keypoints the pose model checks say little the model
does not (they are functions of the same coordinates), only more often by chance (on the
mirror-mouse labels with planted errors, 2-3 frames without an error per run, for 1 moved keypoint
in 20 the model missed): on those they do not flag a frame, only explain one flagged otherwise.
A frame's score is its largest z of the checks that flag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from core.config import ProjectConfig
from core.errors import LabelFormatError
from core.labels.formats import read_labels
from core.labels.table import PoseTable, check_keypoints_match
from core.plausibility.checks import Z_FLAG, Checked, QCReason
from core.plausibility.pose_checks import pose_checks
from core.plausibility.robust import nanmedian
from core.plausibility.skeleton_checks import angle_checks, edge_checks

DUPLICATE_PX = 1.0
"""Two keypoints this close (pixels) are at the same point: a click placed twice."""
USUALLY_APART_PX = 5.0
"""...unless they are usually this close (median over the frames, pixels): the ends of a tiny edge."""


@dataclass(frozen=True)
class FrameQC:
    """One labeled frame's quality control.

    Attributes:
        frame: the label table's index entry (``labeled-data/<video>/<image>``).
        score: the largest robust z-score of the frame's checks that flag (0 when none applies).
        reasons: why it is flagged, definite problems first, then largest z first; empty if it is not.
    """

    frame: str
    score: float
    reasons: tuple[QCReason, ...]

    @property
    def flagged(self) -> bool:
        return bool(self.reasons)


@dataclass(frozen=True)
class LabelQC:
    """The quality control of a label table: a ``FrameQC`` per row, in row order, and notes on
    the checks that could not run, and why."""

    frames: list[FrameQC]
    notes: list[str] = field(default_factory=list)

    def for_review(self) -> list[FrameQC]:
        """The flagged frames: those with a definite problem first, then by score, worst first."""
        flagged = [f for f in self.frames if f.flagged]
        return sorted(flagged, key=lambda f: (f.reasons[0].z is not None, -f.score))


def label_qc(
    labels: PoseTable,
    project: ProjectConfig,
    frame_sizes: Mapping[str, tuple[int, int]] | None = None,
    z_flag: float = Z_FLAG,
) -> LabelQC:
    """Score every labeled frame of ``labels`` against the others and say why it is flagged.

    Args:
        labels: a label file of the project (one view's), pixels, NaN where not labeled.
        project: keypoints, skeleton, ``pca_keypoints`` and ``flip_pairs``.
        frame_sizes: ``(width, height)`` in pixels by index entry, where known (``image_sizes``).
        z_flag: robust z-score from which a check flags a frame.

    Raises:
        LabelFormatError: the labels' keypoints are not the project's.
    """
    check_keypoints_match(project.keypoints, labels.keypoints, source="the labels")
    names = list(project.keypoints)
    xy = labels.select_keypoints(names).xy
    pose = pose_checks(xy, names, project, z_flag)
    modelled = {name for about in pose.about for name in about}
    skeleton = [
        edge_checks(xy, names, project.skeleton, z_flag),
        angle_checks(xy, names, project.skeleton, z_flag),
    ]
    flagging, explaining = [pose], []
    for checked in skeleton:
        alone = np.array([not set(about) <= modelled for about in checked.about], dtype=bool)
        flagging.append(_columns(checked, alone))
        explaining.append(_columns(checked, ~alone))
    duplicates = _duplicates(xy, names)
    sizes = frame_sizes or {}
    frames = []
    for i, name in enumerate(labels.index):
        reasons = [r for checked in flagging for r in checked.reasons[i]]
        reasons += _outside(xy[i], names, sizes.get(name)) + duplicates[i]
        if reasons:
            reasons += [r for checked in explaining for r in checked.reasons[i]]
        z = np.concatenate([checked.z[i] for checked in flagging])
        frames.append(FrameQC(name, float(np.nan_to_num(z, nan=0.0).max(initial=0.0)), _ordered(reasons)))
    return LabelQC(frames, [note for checked in [pose, *skeleton] for note in checked.notes])


def _columns(checked: Checked, keep: np.ndarray) -> Checked:
    """``checked`` with only the checks (columns) ``keep``."""
    about = [a for a, k in zip(checked.about, keep, strict=True) if k]
    wanted = set(about)
    reasons = [[r for r in frame if r.keypoints in wanted] for frame in checked.reasons]
    return Checked(checked.z[:, keep], about, reasons, checked.notes)


def _ordered(reasons: list[QCReason]) -> tuple[QCReason, ...]:
    """``reasons`` without those about a keypoint of a likely swap (the swap explains them),
    definite problems first, then largest z first."""
    swapped = {k for r in reasons if r.kind == "swap" for k in r.keypoints}
    kept = [r for r in reasons if r.kind == "swap" or r.z is None or not swapped & set(r.keypoints)]
    return tuple(sorted(kept, key=lambda r: (r.z is not None, -(r.z or 0.0))))


def _outside(pose: np.ndarray, names: list[str], size: tuple[int, int] | None) -> list[QCReason]:
    """A reason for each keypoint of ``pose`` ``(K, 2)`` outside the ``(width, height)`` frame, or
    with a negative coordinate when the size is unknown."""
    reasons = []
    for name, (x, y) in zip(names, pose, strict=True):
        if x < 0 or y < 0 or (size is not None and (x > size[0] or y > size[1])):  # False for NaN
            frame = (
                f"the {size[0]}x{size[1]} frame" if size is not None else "the frame (a negative coordinate)"
            )
            reasons.append(QCReason("outside", (name,), f"{name} at ({x:.0f}, {y:.0f}) is outside {frame}"))
    return reasons


def _duplicates(xy: np.ndarray, names: list[str]) -> list[list[QCReason]]:
    """Per frame of ``(frames, K, 2)`` labels, a reason for each two keypoints within
    ``DUPLICATE_PX`` of each other that are usually ``USUALLY_APART_PX`` or more apart."""
    distance = np.linalg.norm(xy[:, :, None] - xy[:, None], axis=-1)  # (frames, K, K)
    usual = nanmedian(distance, axis=0)
    reasons: list[list[QCReason]] = [[] for _ in xy]
    upper = np.triu(np.ones(usual.shape, dtype=bool), k=1)
    for frame, i, j in zip(
        *np.nonzero((distance <= DUPLICATE_PX) & (usual >= USUALLY_APART_PX) & upper), strict=True
    ):
        detail = (
            f"{names[i]} and {names[j]} at the same point ({distance[frame, i, j]:.1f} px apart, "
            f"usually {usual[i, j]:.0f} px)"
        )
        reasons[frame].append(QCReason("duplicate", (names[i], names[j]), detail))
    return reasons


def image_sizes(data_dir: str | Path, index: Sequence[str]) -> dict[str, tuple[int, int]]:
    """``(width, height)`` in pixels of each labeled image (index entries, relative to ``data_dir``)
    that exists and can be read; the others are left out."""
    sizes = {}
    for entry in index:
        path = Path(data_dir) / entry
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.is_file() else None
        if image is not None:
            sizes[entry] = (image.shape[1], image.shape[0])
    return sizes


def project_label_qc(project: ProjectConfig, z_flag: float = Z_FLAG) -> list[tuple[Path, LabelQC]]:
    """The quality control of each of the project's label files (one per view), with the frame
    sizes of its labeled images.

    Raises:
        LabelFormatError: a label file is missing or its keypoints are not the project's.
    """
    results = []
    for path in project.labels_paths:
        if not path.is_file():
            raise LabelFormatError(f"{path} does not exist yet; label some frames first")
        labels = read_labels(path)
        results.append((path, label_qc(labels, project, image_sizes(project.data_dir, labels.index), z_flag)))
    return results
