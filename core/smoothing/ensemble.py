"""Ensemble statistics: per frame and keypoint, the members' median, their confidence-weighted
variance, the error variance of the median derived from it (the smoother's observation noise) and
the members' mean likelihood."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from core.errors import LabelFormatError
from core.labels.table import PoseTable, check_keypoints_match
from core.smoothing.compiled import kernel

# A frame's variance is raised to at least this fraction of its keypoint's median variance over the
# video: with few members the sample variance is often far too small by chance (for 3 members it is
# exponentially distributed), which would make the smoother over-confident at that frame.
VARIANCE_FLOOR_FRACTION = 0.1


@dataclass(frozen=True)
class EnsembleStats:
    """The ensemble of one video (one camera).

    Attributes:
        keypoints: keypoint names, in column order.
        index: one entry per frame (from the first member).
        median: ``(frames, keypoints, 2)`` median x/y over the members that see the keypoint, pixels;
            NaN where no member does.
        variance: ``(frames, keypoints, 2)`` members' variance of x/y divided by their mean likelihood,
            pixels²; with one valid member ``1 / likelihood``. NaN where there is no observation
            (no valid member, or mean likelihood 0). The reference package's ``x/y_ens_var``.
        noise: ``(frames, keypoints, 2)`` estimated error variance of the median, pixels²: the variance
            raised to ``VARIANCE_FLOOR_FRACTION`` of its keypoint's median, times
            ``median_variance_factor`` of the number of valid members. NaN where no observation.
        likelihood: ``(frames, keypoints)`` mean likelihood of the valid members (NaN where none).
        members: ``(members, frames, keypoints, 3)`` each member's x, y and likelihood; NaN where it
            does not count.
        n_members: number of members.
        scorer: the first member's scorer name.
    """

    keypoints: list[str]
    index: list[str]
    median: np.ndarray
    variance: np.ndarray
    noise: np.ndarray
    likelihood: np.ndarray
    members: np.ndarray
    n_members: int
    scorer: str = "posecloud"


def ensemble_stats(members: Sequence[PoseTable], sources: Sequence[str] | None = None) -> EnsembleStats:
    """Median, confidence-weighted variance and mean likelihood of M predictions of one video.

    A member counts at a frame and keypoint when its x, y and likelihood are all finite; members
    that miss it (NaN) are left out of that frame's statistics.

    Args:
        members: M PoseTables with fields x, y, likelihood, the same keypoints (any column order)
            and the same number of frames.
        sources: a name per member (e.g. its file path) used in error messages.
    """
    sources = list(sources) if sources is not None else [f"member {i + 1}" for i in range(len(members))]
    if not members:
        raise LabelFormatError("no ensemble members given; pass one or more prediction files")
    if len(sources) != len(members):
        raise ValueError(f"{len(sources)} source names for {len(members)} members")
    first = members[0]
    data = np.empty((len(members), len(first.index), len(first.keypoints), 3))  # x, y, likelihood
    for i, (table, source) in enumerate(zip(members, sources, strict=True)):
        missing = [f for f in ("x", "y", "likelihood") if f not in table.fields]
        if missing:
            raise LabelFormatError(
                f"{source} has no {missing} column(s); the smoother needs predictions with x, y and "
                "likelihood per keypoint (labels without likelihood cannot be smoothed)"
            )
        if not table.index:
            raise LabelFormatError(f"{source} has no frames; predict the video again or leave this file out")
        check_keypoints_match(first.keypoints, table.keypoints, source=source)
        if len(table.index) != len(first.index):
            raise LabelFormatError(
                f"{source} has {len(table.index)} frames but {sources[0]} has {len(first.index)}; "
                "all members must be predictions of the same video"
            )
        if table.keypoints != first.keypoints:
            table = table.select_keypoints(first.keypoints)
        for j, name in enumerate(("x", "y", "likelihood")):
            data[i, ..., j] = table.field(name)
    median, variance, mean_lh, n_valid = _member_statistics(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a keypoint no member ever sees
        typical = np.nanmedian(variance, axis=0)
    factor = np.array([median_variance_factor(n) for n in range(len(members) + 1)])[n_valid]
    noise = np.maximum(variance, VARIANCE_FLOOR_FRACTION * typical) * factor[..., None]
    return EnsembleStats(
        keypoints=list(first.keypoints),
        index=list(first.index),
        median=median,
        variance=variance,
        noise=noise,
        likelihood=mean_lh,
        members=data,
        n_members=len(members),
        scorer=first.scorer,
    )


@cache
def median_variance_factor(n_members: int) -> float:
    """Variance of the median of n Gaussian members over the expected (ddof 0) variance of the n.

    Turns the members' variance into the error variance of their median (1 for n <= 2, about
    0.67 for 3, 0.36 for 5). Monte Carlo with 2^16 seeded draws (relative error about 0.5%).
    """
    if n_members <= 2:
        return 1.0
    draws = np.random.default_rng(0).standard_normal((1 << 16, n_members))
    return float(np.median(draws, axis=1).var() / draws.var(axis=1).mean())


@kernel
def _member_statistics(data):  # pragma: no cover - compiled
    """Per frame and keypoint of ``(members, frames, keypoints, 3)`` x, y, likelihood: the median,
    variance (ddof 0; 1 with fewer than 2 valid members) over mean likelihood, mean likelihood and
    count of the members whose three values are finite; NaN where there is none (and a variance
    that is not finite). Marks the other members' values NaN in ``data``."""
    n_members, n_frames, n_kp, _ = data.shape
    median = np.full((n_frames, n_kp, 2), np.nan)
    variance = np.full((n_frames, n_kp, 2), np.nan)
    mean_lh = np.full((n_frames, n_kp), np.nan)
    n_valid = np.zeros((n_frames, n_kp), dtype=np.intp)
    ordered = np.empty(n_members)
    for t in range(n_frames):
        for k in range(n_kp):
            n = 0
            lh = 0.0
            for m in range(n_members):
                x, y, likelihood = data[m, t, k, 0], data[m, t, k, 1], data[m, t, k, 2]
                if np.isfinite(x) and np.isfinite(y) and np.isfinite(likelihood):
                    n += 1
                    lh += likelihood
                else:
                    data[m, t, k, :] = np.nan
            n_valid[t, k] = n
            if n == 0:
                continue
            lh /= n
            mean_lh[t, k] = lh
            for c in range(2):
                total = 0.0
                n_sorted = 0
                for m in range(n_members):
                    value = data[m, t, k, c]
                    if value == value:  # not NaN: insertion sort of the valid values
                        total += value
                        i = n_sorted
                        while i > 0 and ordered[i - 1] > value:
                            ordered[i] = ordered[i - 1]
                            i -= 1
                        ordered[i] = value
                        n_sorted += 1
                median[t, k, c] = 0.5 * (ordered[(n - 1) // 2] + ordered[n // 2])
                spread = 1.0
                if n >= 2:
                    mean = total / n
                    spread = 0.0
                    for m in range(n_members):
                        value = data[m, t, k, c]
                        if value == value:
                            spread += (value - mean) * (value - mean)
                    spread /= n
                var = spread / lh
                if np.isfinite(var):
                    variance[t, k, c] = var
    return median, variance, mean_lh, n_valid
