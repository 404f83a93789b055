"""Outlier-robust observations: the ensemble members combined into one observation per frame by EM.

Model, per keypoint: member m's prediction at frame t is, with probability ``1 - pi_b``, the true
position plus isotropic Gaussian noise of variance ``sigma2_m * gain_b``, and otherwise an outlier
from a broad Gaussian (variance ``outlier_var``) around the true position. ``b`` is the confidence
bin of that prediction's likelihood (octiles per keypoint), so the data decide what confidence
means: where low confidence goes with outliers, ``pi`` is high in the low bins; where it means
nothing, ``pi`` and ``gain`` come out alike in every bin. Each member has its own noise level,
estimated over the whole video: the spread of a few members at one frame is too noisy a variance
(with 3 members it is exponentially distributed), which made the smoother over-confident.

EM, the smoother being the E-step for the trajectory: given the smoothed positions and posterior
variances, each prediction's probability of being an inlier (its responsibility) follows; the
parameters are re-estimated from responsibility-weighted expected squared residuals; and the members
are combined into the precision-weighted mean with variance ``1 / sum_m rho_m / (sigma2_m gain_b)``
(the Gaussian seen by the Kalman smoother), which is smoothed again. A member that disagrees with
the others and with the trajectory gets no weight, where the median would still move and the
members' variance would discard the frame.

The parameters are few (per member and keypoint, per keypoint and bin), so on a long video the
M-step reads the evenly spaced blocks of frames the smoothing parameter is fitted on
(``fit.fit_frames``); the combination, which every frame needs, reads all of them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from core.smoothing.fit import fit_frames
from core.smoothing.kalman import MIN_VARIANCE

CONFIDENCE_BINS = 8
ROUNDS = 3
# Pseudo-counts pulling a confidence bin's outlier rate and gain towards the keypoint's overall
# ones, so that a nearly empty bin (ties in the likelihoods) keeps sensible values.
BIN_PRIOR = 20.0
OUTLIER_PROB_RANGE = (1e-4, 0.95)
# The outlier component is at least this many times wider (in variance) than the typical member.
OUTLIER_VAR_FACTOR = 25.0
INITIAL_OUTLIER_PROB = 0.05
# A combination of members whose variance would exceed this (pixels²: a 1,000 px SD), every member
# judged an outlier, is no observation (its variance would reach 1e300 and overflow what follows).
MAX_COMBINED_VARIANCE = 1e6
# Median of a chi-square with 2 degrees of freedom: turns a median squared 2-D distance into a variance.
_CHI2_2_MEDIAN = 2 * np.log(2)


@dataclass(frozen=True)
class Members:
    """One camera's ensemble members.

    Attributes:
        xy: ``(members, frames, keypoints, 2)`` predictions, pixels; 0 where a member does not count.
        slots: ``(members, frames, keypoints)`` flat index of each prediction's (keypoint, confidence
            bin) in a ``(keypoints, bins)`` parameter array (its keypoint's bin 0 where it does not count).
        valid: ``(members, frames, keypoints)`` where a prediction counts.
    """

    xy: np.ndarray
    slots: np.ndarray
    valid: np.ndarray

    def keypoints(self, chosen: slice) -> Members:
        slots = self.slots[:, :, chosen] - CONFIDENCE_BINS * (chosen.start or 0)
        return Members(self.xy[:, :, chosen], slots, self.valid[:, :, chosen])

    def frames(self, chosen: np.ndarray) -> Members:
        return Members(self.xy[:, chosen], self.slots[:, chosen], self.valid[:, chosen])


def members_of(xy: np.ndarray, likelihood: np.ndarray) -> Members:
    """``Members`` from ``(members, frames, keypoints, 2)`` positions (NaN where missing) and their
    likelihoods; the bins are the ``CONFIDENCE_BINS`` quantiles of each keypoint's likelihoods."""
    valid = np.isfinite(xy[..., 0])
    sample = fit_frames(xy.shape[1]).ravel()  # quantiles need no more frames than the fit
    edges = np.full((xy.shape[2], CONFIDENCE_BINS - 1), np.inf)
    for k in range(xy.shape[2]):
        seen = likelihood[:, sample, k][valid[:, sample, k]]
        if seen.size:
            edges[k] = np.quantile(seen, np.linspace(0, 1, CONFIDENCE_BINS + 1)[1:-1])
    bins = np.zeros(valid.shape, dtype=np.intp)
    for edge in edges.T:  # a prediction's bin is the number of edges below it
        bins += likelihood > edge
    bins *= valid
    bins += CONFIDENCE_BINS * np.arange(xy.shape[2])
    return Members(np.where(valid[..., None], xy, 0.0), bins, valid)


@dataclass(frozen=True)
class MemberNoise:
    """The model's parameters, per keypoint.

    Attributes:
        sigma2: ``(members, keypoints)`` each member's inlier noise variance per coordinate, pixels².
        gain: ``(keypoints, bins)`` factor on it per confidence bin.
        outlier_prob: ``(keypoints, bins)`` chance a prediction in that bin is an outlier.
        outlier_var: ``(keypoints,)`` variance per coordinate of the outliers around the truth, pixels².
    """

    sigma2: np.ndarray
    gain: np.ndarray
    outlier_prob: np.ndarray
    outlier_var: np.ndarray

    def inlier_var(self, members: Members) -> np.ndarray:
        """``(members, frames, keypoints)`` inlier variance of every prediction."""
        return self.sigma2[:, None, :] * self.gain.ravel()[members.slots]


def squared_residuals(members: Members, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """``(members, frames, keypoints)`` expected squared 2-D distance of each prediction from the
    trajectory (posterior ``mean`` and ``var``, ``(frames, keypoints, 2)``); meaningless where a
    prediction does not count."""
    dx = members.xy[..., 0] - mean[..., 0]
    dy = members.xy[..., 1] - mean[..., 1]
    dx *= dx
    dy *= dy
    dx += dy
    dx += var[..., 0] + var[..., 1]
    return dx


def initial_noise(members: Members, r2: np.ndarray) -> MemberNoise:
    """Parameters to start EM from, given squared residuals from a first trajectory: each member's
    variance from its median squared residual (robust to its outliers)."""
    n_kp = members.xy.shape[2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a keypoint a member never sees
        sigma2 = np.nanmedian(np.where(members.valid, r2, np.nan), axis=1) / (2 * _CHI2_2_MEDIAN)
    sigma2 = np.where(np.isfinite(sigma2), np.maximum(sigma2, MIN_VARIANCE), 1.0)
    typical = np.median(sigma2, axis=0)
    return MemberNoise(
        sigma2,
        np.ones((n_kp, CONFIDENCE_BINS)),
        np.full((n_kp, CONFIDENCE_BINS), INITIAL_OUTLIER_PROB),
        4 * OUTLIER_VAR_FACTOR * typical,
    )


def responsibilities(members: Members, noise: MemberNoise, r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(members, frames, keypoints)`` probability that each prediction is an inlier (0 where
    missing), and the predictions' inlier variances."""
    v = noise.inlier_var(members)
    out = noise.outlier_var
    # log of the outlier's over the inlier's density (2-D isotropic Gaussians) and prior odds:
    # log(pi / (1 - pi)) - log(out) + log(v) + r2 / 2 (1 / v - 1 / out); in place, the arrays are large
    log_prior = np.log(noise.outlier_prob) - np.log1p(-noise.outlier_prob) - np.log(out)[:, None]
    ratio = np.divide(0.5, v)
    ratio -= 0.5 / out
    ratio *= r2
    ratio += np.log(v)
    ratio += log_prior.ravel()[members.slots]
    with np.errstate(over="ignore"):
        rho = np.exp(ratio, out=ratio)
    rho += 1.0
    np.reciprocal(rho, out=rho)
    rho *= members.valid
    return rho, v


def update_noise(members: Members, noise: MemberNoise, rho: np.ndarray, r2: np.ndarray) -> MemberNoise:
    """The M-step: parameters maximising the expected log-likelihood under ``rho``."""
    n_kp = members.xy.shape[2]
    slots = members.slots
    r2 = np.where(members.valid, r2, 0.0)
    weight = rho.sum(axis=1)
    sigma2 = (rho * r2 / noise.gain.ravel()[slots]).sum(axis=1) / np.maximum(2 * weight, 1e-12)
    sigma2 = np.where(weight > 1.0, np.maximum(sigma2, MIN_VARIANCE), noise.sigma2)

    outlying = members.valid - rho

    def per_bin(values: np.ndarray) -> np.ndarray:
        return np.bincount(slots.ravel(), values.ravel(), n_kp * CONFIDENCE_BINS).reshape(n_kp, -1)

    inliers, outliers, count = per_bin(rho), per_bin(outlying), per_bin(members.valid)
    spread = per_bin(rho * r2 / sigma2[:, None, :])
    new_gain = (spread / 2 + BIN_PRIOR) / (inliers + BIN_PRIOR)
    mean_gain = (new_gain * inliers).sum(axis=1, keepdims=True) / np.maximum(
        inliers.sum(axis=1, keepdims=True), 1e-12
    )
    new_gain /= np.where(mean_gain > 0, mean_gain, 1.0)  # gain averages 1: sigma2 carries the scale
    overall = outliers.sum(axis=1, keepdims=True) / np.maximum(count.sum(axis=1, keepdims=True), 1.0)
    prob = np.clip((outliers + BIN_PRIOR * overall) / (count + BIN_PRIOR), *OUTLIER_PROB_RANGE)

    out_weight = outlying.sum(axis=(0, 1))
    out_var = (outlying * r2).sum(axis=(0, 1)) / np.maximum(2 * out_weight, 1e-12)
    floor = OUTLIER_VAR_FACTOR * np.median(sigma2, axis=0)
    out_var = np.where(out_weight > 1.0, np.maximum(out_var, floor), np.maximum(noise.outlier_var, floor))
    return MemberNoise(sigma2, new_gain, prob, out_var)


def combine(members: Members, rho: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(frames, keypoints, 2)`` observation (inlier-precision-weighted mean of the members, each
    with its responsibility ``rho`` and inlier variance ``v``) and its variance; NaN where no
    member counts."""
    precision = rho / v
    total = precision.sum(axis=0)
    seen = total > 1.0 / MAX_COMBINED_VARIANCE
    with np.errstate(invalid="ignore", divide="ignore"):
        obs = np.einsum("mtk,mtkc->tkc", precision, members.xy) / total[..., None]
        var = np.repeat((1.0 / total)[..., None], 2, axis=-1)
    obs[~seen] = np.nan
    var[~seen] = np.nan
    return obs, var


Result = TypeVar("Result")
Smoother = Callable[
    [list[np.ndarray], list[np.ndarray], np.ndarray | None],
    tuple[Result, list[tuple[np.ndarray, np.ndarray]], np.ndarray],
]


def robust_smooth(
    cameras: Sequence[Members],
    medians: Sequence[np.ndarray],
    spreads: Sequence[np.ndarray],
    smooth: Smoother,
    s: np.ndarray | None = None,
    rounds: int = ROUNDS,
) -> tuple[Result, list[MemberNoise]]:
    """Smooth the members' median under the members' spread, then alternate combining each camera's
    members and smoothing them, ``rounds`` times.

    The first trajectory matters when most members fail together: the median follows them, but the
    members' spread there is large, so the smoothed median does not, and against it the failing
    members are the outliers.

    Args:
        cameras: each camera's members.
        medians, spreads: each camera's ``(frames, keypoints, 2)`` members' median and its variance
            from the members' spread (pixels²).
        smooth: maps the cameras' observations and variances (lists of ``(frames, keypoints, 2)``)
            and the smoothing parameter per keypoint (None: fit it) to a result, per camera the
            smoothed positions and posterior variances, and the smoothing parameter used.
        s: ``(keypoints,)`` the user's smoothing parameter, or None to fit it: on the first pass
            and the last (the passes between keep the first's, which saves most of the fitting).

    Returns:
        the last result of ``smooth`` and each camera's fitted noise model.
    """
    result, tracks, first = smooth(list(medians), list(spreads), s)
    fitted = [fit_frames(m.xy.shape[1]).ravel() for m in cameras]
    estimating = [m.frames(f) for m, f in zip(cameras, fitted, strict=True)]
    noise = [
        initial_noise(m, squared_residuals(m, track[0][f], track[1][f]))
        for m, f, track in zip(estimating, fitted, tracks, strict=True)
    ]
    for round_ in range(rounds):
        observations, variances = [], []
        for c, (members, track) in enumerate(zip(cameras, tracks, strict=True)):
            r2 = squared_residuals(members, *track)
            part, r2_part = estimating[c], r2[:, fitted[c]]
            rho, _ = responsibilities(part, noise[c], r2_part)
            noise[c] = update_noise(part, noise[c], rho, r2_part)
            obs, var = combine(members, *responsibilities(members, noise[c], r2))
            observations.append(obs)
            variances.append(var)
        result, tracks, _ = smooth(observations, variances, s if round_ == rounds - 1 else first)
    return result, noise
