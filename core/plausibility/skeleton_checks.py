"""Labeled skeletons against the project's other labels: each edge's length (its log, so that twice
and half as long count the same) and the angle between two edges sharing a keypoint, as robust
z-scores over the frames where they are labeled."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.plausibility.checks import Checked, QCReason
from core.plausibility.pose_pca import MIN_FRAMES
from core.plausibility.robust import nanmedian, robust_z


def edge_checks(
    xy: np.ndarray, names: list[str], skeleton: Sequence[tuple[str, str]], z_flag: float
) -> Checked:
    """A column per skeleton edge of ``(frames, K, 2)`` labels (pixels) whose keypoints are ``names``."""
    z = np.full((len(xy), len(skeleton)), np.nan)
    reasons: list[list[QCReason]] = [[] for _ in xy]
    notes = []
    for e, (a, b) in enumerate(skeleton):
        length = np.linalg.norm(xy[:, names.index(a)] - xy[:, names.index(b)], axis=-1)
        log = np.log(np.where(length > 0, length, np.nan))  # 0: two keypoints at one point, a duplicate
        if np.isfinite(log).sum() < MIN_FRAMES:
            notes.append(f"edge {a}–{b} not checked: labeled in fewer than {MIN_FRAMES} frames")
            continue
        usual = float(np.exp(nanmedian(log)))
        z[:, e], centre = robust_z(log, floor=1.0 / usual)  # 1 px at the usual length at least
        for frame in np.flatnonzero(z[:, e] >= z_flag):
            detail = (
                f"edge {a}–{b} {np.exp(log[frame] - centre):.1f}x its usual length ({length[frame]:.0f} px, "
                f"usually {usual:.0f} px, z {z[frame, e]:.1f})"
            )
            reasons[frame].append(QCReason("edge", (a, b), detail, float(z[frame, e])))
    return Checked(z, [tuple(edge) for edge in skeleton], reasons, notes)


def angle_checks(
    xy: np.ndarray, names: list[str], skeleton: Sequence[tuple[str, str]], z_flag: float
) -> Checked:
    """A column per joint (``joints``) of ``(frames, K, 2)`` labels whose keypoints are ``names``:
    the signed angle from one edge to the other, so that a joint bent the other way counts."""
    joints = _joints(skeleton)
    z = np.full((len(xy), len(joints)), np.nan)
    reasons: list[list[QCReason]] = [[] for _ in xy]
    for j, (p, o, q) in enumerate(joints):
        u = xy[:, names.index(p)] - xy[:, names.index(o)]
        v = xy[:, names.index(q)] - xy[:, names.index(o)]
        angle = np.arctan2(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0], np.sum(u * v, axis=1))
        if np.isfinite(angle).sum() < MIN_FRAMES:
            continue
        shorter = min(nanmedian(np.linalg.norm(u, axis=1)), nanmedian(np.linalg.norm(v, axis=1)))
        # 1 px at the end of the shorter edge at least, in radians
        z[:, j], centre = robust_z(angle, floor=1.0 / max(shorter, 1.0), period=2 * np.pi)
        for frame in np.flatnonzero(z[:, j] >= z_flag):
            detail = (
                f"angle {p}–{o}–{q} {np.degrees(angle[frame]):.0f}° (usually {np.degrees(centre):.0f}°, "
                f"z {z[frame, j]:.1f})"
            )
            reasons[frame].append(QCReason("angle", (p, o, q), detail, float(z[frame, j])))
    return Checked(z, joints, reasons, [])


def _joints(skeleton: Sequence[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """``(p, o, q)`` for every two skeleton edges o–p and o–q that share exactly the keypoint o."""
    joints = []
    for i, first in enumerate(skeleton):
        for second in skeleton[:i]:
            shared = set(first) & set(second)
            if len(shared) == 1:
                (o,) = shared
                joints.append((_other_end(second, o), o, _other_end(first, o)))
    return joints


def _other_end(edge: tuple[str, str], end: str) -> str:
    return edge[1] if edge[0] == end else edge[0]
