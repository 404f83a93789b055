"""Labeled poses against the project's other labeled poses: each keypoint against where the other
keypoints put it, and left/right pairs against the same with the pair exchanged.

Two models (``pose_gaussian``): one of the body, the project's ``pca_keypoints`` (all keypoints
when empty), and one of the keypoints these leave out (an obstacle's markers, say), each of its
keypoints labeled in at least ``MIN_LABELED_FRACTION`` of the frames, fitted on the frames where all
of them are labeled. A frame a model is fitted on is judged by a fit without it (leave-one-out,
else a wrong label would pull the model towards itself); then the model is fitted again without the
frames the first pass flagged, so that the project's wrong labels do not widen what counts as usual.

Swaps: each flip pair, and all of a model's pairs at once when there are several (a labeler who
mixed up left and right throughout a frame), is exchanged and compared with the rest of the pose
again; the fall in squared Mahalanobis distance is the swap's evidence (twice the log of how many
times likelier the exchanged labels are), as a z: its square root.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2

from core.config import ProjectConfig
from core.plausibility.checks import Checked, QCReason
from core.plausibility.flip_pairs import project_flip_pairs
from core.plausibility.pose_gaussian import Conditional, PoseGaussian, fit_pose_gaussian
from core.plausibility.pose_pca import MIN_FRAMES
from core.plausibility.robust import nanmedian

MIN_LABELED_FRACTION = 0.5
"""A keypoint labeled in fewer frames (a tongue, seen now and then) is left out of the models: it
would leave too few frames with the whole pose labeled to fit on."""

Swap = list[tuple[int, int]]
"""Pairs of a model's keypoints exchanged together."""


def model_keypoints(xy: np.ndarray, names: list[str], project: ProjectConfig) -> list[list[str]]:
    """The keypoints of each pose model (two or more each), of ``(frames, K, 2)`` labels whose
    keypoints are ``names``."""
    labeled = np.isfinite(xy[..., 0]).mean(axis=0)
    body = project.pca_keypoints or names
    groups = [body, [n for n in names if n not in body]]
    groups = [[n for n in group if labeled[names.index(n)] >= MIN_LABELED_FRACTION] for group in groups]
    return [group for group in groups if len(group) >= 2]


def pose_checks(xy: np.ndarray, names: list[str], project: ProjectConfig, z_flag: float) -> Checked:
    """The pose and swap checks of ``(frames, K, 2)`` labels (pixels, NaN where missing) whose
    keypoints are ``names``: per model, a column per keypoint, then per swap."""
    groups = model_keypoints(xy, names, project)
    pairs = project_flip_pairs(project)
    notes = [
        f"swap check of {a} and {b} skipped: they are not in one pose model (the pca_keypoints, all when empty, "
        f"or the others; each labeled in at least {MIN_LABELED_FRACTION:.0%} of frames)"
        for a, b in pairs
        if not any(a in group and b in group for group in groups)
    ]
    unchecked = [n for n in names if not any(n in group for group in groups)]
    if unchecked:
        notes.append(
            f"{unchecked} not compared with the other keypoints: labeled in under {MIN_LABELED_FRACTION:.0%} of "
            "frames, or alone outside the pca_keypoints"
        )
    checked = [_model_checks(xy, names, group, pairs, z_flag, notes) for group in groups]
    return Checked(
        np.concatenate([np.zeros((len(xy), 0)), *(c.z for c in checked)], axis=1),
        [about for c in checked for about in c.about],
        [[r for c in checked for r in c.reasons[frame]] for frame in range(len(xy))],
        notes,
    )


def _model_checks(
    xy: np.ndarray,
    names: list[str],
    modelled: list[str],
    flip_pairs: list[tuple[str, str]],
    z_flag: float,
    notes: list[str],
) -> Checked:
    """The checks of one model, of the keypoints ``modelled``; adds to ``notes`` if it cannot run."""
    pairs = [(modelled.index(a), modelled.index(b)) for a, b in flip_pairs if a in modelled and b in modelled]
    swaps = [[pair] for pair in pairs] + ([pairs] if len(pairs) > 1 else [])
    poses = xy[:, [names.index(n) for n in modelled]]
    complete = np.isfinite(poses).all(axis=(1, 2))
    needed = max(MIN_FRAMES, 2 * len(modelled) + 1)
    if complete.sum() < needed:
        notes.append(
            f"pose and swap checks of {modelled} skipped: they need {needed} frames with all of them labeled, "
            f"the labels have {int(complete.sum())}; label more frames completely"
        )
        return Checked(np.zeros((len(xy), 0)), [], [[] for _ in xy], [])
    verdict = _verdict(poses, complete, swaps, z_flag)
    reference = complete & ~verdict.flags(z_flag)
    if reference.sum() >= needed:
        verdict = _verdict(poses, reference, swaps, z_flag)
    return Checked(
        np.concatenate([verdict.z, verdict.swap_z], axis=1),
        [(n,) for n in modelled] + [_swapped_names(swap, modelled) for swap in swaps],
        verdict.reasons(modelled, swaps, z_flag),
        [],
    )


def _swapped_names(swap: Swap, modelled: list[str]) -> tuple[str, ...]:
    return tuple(modelled[k] for pair in swap for k in pair)


@dataclass(frozen=True)
class _Verdict:
    """What the pose model says of every frame (``frames``, model keypoints ``K``, swaps ``S``).

    Attributes:
        z: ``(frames, K)`` each keypoint's robust z given the others present in its frame.
        error_px: ``(frames, K)`` its distance from where the others put it, pixels.
        swap_z: ``(frames, S)`` how much better (z) each swap fits exchanged; 0 where worse.
        swap_error_px: ``(frames, S, 2)`` the swap's keypoints' RMS distance from where the rest
            puts them, as labeled and exchanged, pixels.
    """

    z: np.ndarray
    error_px: np.ndarray
    swap_z: np.ndarray
    swap_error_px: np.ndarray

    def flags(self, z_flag: float) -> np.ndarray:
        """``(frames,)`` whether a keypoint or swap of the frame reaches ``z_flag``."""
        return (self.z >= z_flag).any(axis=1) | (self.swap_z >= z_flag).any(axis=1)

    def reasons(self, modelled: list[str], swaps: list[Swap], z_flag: float) -> list[list[QCReason]]:
        """Per frame: the keypoints reaching ``z_flag``, and the swaps reaching it that share no
        keypoint with a likelier one (all pairs exchanged also makes each pair alone fit better)."""
        reasons: list[list[QCReason]] = [[] for _ in self.z]
        for frame, k in zip(*np.nonzero(self.z >= z_flag), strict=True):
            z = float(self.z[frame, k])
            detail = f"{modelled[k]} {self.error_px[frame, k]:.0f} px from where the other keypoints put it (z {z:.1f})"
            reasons[frame].append(QCReason("pose", (modelled[k],), detail, z))
        for frame in np.flatnonzero((self.swap_z >= z_flag).any(axis=1)):
            explained: set[str] = set()
            for s in np.argsort(-self.swap_z[frame]):
                keypoints = _swapped_names(swaps[s], modelled)
                if self.swap_z[frame, s] < z_flag or explained & set(keypoints):
                    continue
                explained.update(keypoints)
                reasons[frame].append(self._swap_reason(frame, s, swaps[s], keypoints))
        return reasons

    def _swap_reason(self, frame: int, s: int, swap: Swap, keypoints: tuple[str, ...]) -> QCReason:
        z = float(self.swap_z[frame, s])
        as_labeled, exchanged = self.swap_error_px[frame, s]
        which = " and ".join(keypoints) if len(swap) == 1 else f"left and right ({', '.join(keypoints)})"
        detail = f"{which} likely swapped (error {exchanged:.0f} px swapped vs {as_labeled:.0f} px as labeled, z {z:.1f})"
        return QCReason("swap", keypoints, detail, z)


def _verdict(poses: np.ndarray, reference: np.ndarray, swaps: list[Swap], z_flag: float) -> _Verdict:
    """The pose model's verdict on ``(frames, K, 2)`` poses, fitted on the ``reference`` frames.

    The squared distances are about chi-squared (2 degrees of freedom a keypoint) for poses like
    the reference. Each keypoint's, and each swap's as labeled, is divided by its median over the
    reference frames over the chi-squared's median (at least 1: never tighter than the model says):
    a robust calibration for what the model misses (the pose is not Gaussian; the fit is on few
    frames). Then in each frame with a keypoint reaching ``z_flag`` the worst keypoints are set
    aside one at a time and the others compared again without them, so that one wrong keypoint
    does not make its neighbours look wrong too.
    """
    frames, keypoints = poses.shape[:2]
    m2, error = np.full((frames, keypoints), np.nan), np.full((frames, keypoints), np.nan)
    swap_m2, swap_error = np.full((frames, len(swaps), 2), np.nan), np.full((frames, len(swaps), 2), np.nan)
    groups = [[k] for k in range(keypoints)] + [[k for pair in swap for k in pair] for swap in swaps]
    everyone = fit_pose_gaussian(poses[reference])

    def model(frame: int) -> PoseGaussian:
        """The fit that judges ``frame``: without it if it is a reference frame."""
        return (
            fit_pose_gaussian(poses[reference & (np.arange(frames) != frame)])
            if reference[frame]
            else everyone
        )

    for frame in np.flatnonzero(np.isfinite(poses).any(axis=(1, 2))):
        fit = model(frame)
        found = fit.conditionals(poses[frame], groups)
        _record(found[:keypoints], range(keypoints), m2[frame], error[frame])
        for s, (labeled, swap, group) in enumerate(
            zip(found[keypoints:], swaps, groups[keypoints:], strict=True)
        ):
            if labeled is None:
                continue
            exchanged_pose = poses[frame].copy()
            for a, b in swap:
                exchanged_pose[[a, b]] = exchanged_pose[[b, a]]
            (exchanged,) = fit.conditionals(exchanged_pose, [group])
            swap_m2[frame, s] = labeled.m2, exchanged.m2
            swap_error[frame, s] = _rms(labeled.residual), _rms(exchanged.residual)
    scale = np.maximum(nanmedian(m2[reference], axis=0) / chi2.median(2), 1.0)
    for frame in np.flatnonzero((m2 / scale >= z_flag**2).any(axis=1)):
        fit, pose = model(frame), poses[frame].copy()
        set_aside = np.zeros(keypoints, dtype=bool)
        while (~set_aside & (m2[frame] / scale >= z_flag**2)).any():
            worst = int(np.nanargmax(np.where(set_aside, -np.inf, m2[frame] / scale)))
            set_aside[worst] = True
            pose[worst] = np.nan
            rest = [k for k in range(keypoints) if np.isfinite(pose[k]).all()]
            _record(fit.conditionals(pose, [[k] for k in rest]), rest, m2[frame], error[frame])
    dof = np.array([2 * len(group) for group in groups[keypoints:]])
    swap_scale = np.maximum(nanmedian(swap_m2[reference, :, 0], axis=0) / chi2.median(dof), 1.0)
    gain = np.maximum(swap_m2[..., 0] - swap_m2[..., 1], 0.0)
    return _Verdict(np.sqrt(m2 / scale), error, np.sqrt(gain / swap_scale), swap_error)


def _record(
    found: list[Conditional | None], keypoints: Sequence[int], m2: np.ndarray, error: np.ndarray
) -> None:
    """Write each keypoint's squared distance and distance (pixels) from ``found`` into ``m2`` and ``error``."""
    for k, conditional in zip(keypoints, found, strict=True):
        if conditional is not None:
            m2[k], error[k] = conditional.m2, np.linalg.norm(conditional.residual)


def _rms(residual: np.ndarray) -> float:
    """Root mean square of the keypoints' distances in a ``(G, 2)`` residual, pixels."""
    return float(np.sqrt(np.mean(np.sum(residual**2, axis=1))))
