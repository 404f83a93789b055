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
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

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
# Median of a chi-square with 2 degrees of freedom: turns a median squared 2-D distance into a variance.
_CHI2_2_MEDIAN = 2 * np.log(2)


@dataclass(frozen=True)
class Members:
    """One camera's ensemble members.

    Attributes:
        xy: ``(members, frames, keypoints, 2)`` predictions, pixels; NaN where a member does not count.
        bins: ``(members, frames, keypoints)`` confidence bin of each prediction (0 where it does not count).
        valid: ``(members, frames, keypoints)`` where a prediction counts.
    """

    xy: np.ndarray
    bins: np.ndarray
    valid: np.ndarray

    def keypoints(self, chosen: slice) -> Members:
        return Members(self.xy[:, :, chosen], self.bins[:, :, chosen], self.valid[:, :, chosen])


def members_of(xy: np.ndarray, likelihood: np.ndarray) -> Members:
    """``Members`` from ``(members, frames, keypoints, 2)`` positions (NaN where missing) and their
    likelihoods; the bins are the ``CONFIDENCE_BINS`` quantiles of each keypoint's likelihoods."""
    valid = np.isfinite(xy[..., 0])
    bins = np.zeros(valid.shape, dtype=np.intp)
    for k in range(xy.shape[2]):
        seen = likelihood[..., k][valid[..., k]]
        if seen.size:
            edges = np.quantile(seen, np.linspace(0, 1, CONFIDENCE_BINS + 1)[1:-1])
            bins[..., k] = np.where(valid[..., k], np.searchsorted(edges, likelihood[..., k]), 0)
    return Members(xy, bins, valid)


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
        gain = self.gain[np.arange(self.gain.shape[0]), members.bins]
        return self.sigma2[:, None, :] * gain


def squared_residuals(members: Members, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """``(members, frames, keypoints)`` expected squared 2-D distance of each prediction from the
    trajectory (posterior ``mean`` and ``var``, ``(frames, keypoints, 2)``); NaN where missing."""
    return ((members.xy - mean) ** 2 + var).sum(axis=-1)


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


def responsibilities(members: Members, noise: MemberNoise, r2: np.ndarray) -> np.ndarray:
    """``(members, frames, keypoints)`` probability that each prediction is an inlier (0 where missing)."""
    v = noise.inlier_var(members)
    pi = noise.outlier_prob[np.arange(noise.outlier_prob.shape[0]), members.bins]
    out = noise.outlier_var
    # log densities of a 2-D isotropic Gaussian, up to the shared -log(2 pi)
    log_in = np.log1p(-pi) - np.log(v) - r2 / (2 * v)
    log_out = np.log(pi) - np.log(out) - r2 / (2 * out)
    with np.errstate(over="ignore", invalid="ignore"):
        rho = 1.0 / (1.0 + np.exp(log_out - log_in))
    return np.where(members.valid, rho, 0.0)


def update_noise(members: Members, noise: MemberNoise, rho: np.ndarray, r2: np.ndarray) -> MemberNoise:
    """The M-step: parameters maximising the expected log-likelihood under ``rho``."""
    n_kp = members.xy.shape[2]
    r2 = np.where(members.valid, r2, 0.0)
    gain = noise.gain[np.arange(n_kp), members.bins]
    weight = rho.sum(axis=1)
    sigma2 = (rho * r2 / gain).sum(axis=1) / np.maximum(2 * weight, 1e-12)
    sigma2 = np.where(weight > 1.0, np.maximum(sigma2, MIN_VARIANCE), noise.sigma2)

    scaled = rho * r2 / sigma2[:, None, :]
    outlying = np.where(members.valid, 1.0 - rho, 0.0)
    per_bin = [np.zeros((n_kp, CONFIDENCE_BINS)) for _ in range(4)]
    for k in range(n_kp):
        b = members.bins[..., k].ravel()
        for total, values in zip(
            per_bin,
            (rho[..., k], scaled[..., k], outlying[..., k], members.valid[..., k].astype(float)),
            strict=True,
        ):
            total[k] = np.bincount(b, values.ravel(), CONFIDENCE_BINS)
    inliers, spread, outliers, count = per_bin
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


def combine(members: Members, noise: MemberNoise, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(frames, keypoints, 2)`` observation (inlier-precision-weighted mean of the members) and its
    variance; NaN where no member counts."""
    precision = np.where(members.valid, rho / noise.inlier_var(members), 0.0)
    total = precision.sum(axis=0)
    seen = total > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        obs = (precision[..., None] * np.where(members.valid[..., None], members.xy, 0.0)).sum(
            axis=0
        ) / total[..., None]
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
    noise = [initial_noise(m, squared_residuals(m, *track)) for m, track in zip(cameras, tracks, strict=True)]
    for round_ in range(rounds):
        observations, variances = [], []
        for c, (members, track) in enumerate(zip(cameras, tracks, strict=True)):
            r2 = squared_residuals(members, *track)
            rho = responsibilities(members, noise[c], r2)
            noise[c] = update_noise(members, noise[c], rho, r2)
            obs, var = combine(members, noise[c], responsibilities(members, noise[c], r2))
            observations.append(obs)
            variances.append(var)
        result, tracks, _ = smooth(observations, variances, s if round_ == rounds - 1 else first)
    return result, noise
