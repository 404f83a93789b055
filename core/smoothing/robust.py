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
(``fit.fit_frames``); the combination, which every frame needs, reads all of them. Both are
compiled loops over the predictions (``_combine``, ``_moments``): an E-step over 1.7 million
predictions in numpy made six arrays of their size and cost 2.5x as long (measured).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from core.smoothing.compiled import kernel
from core.smoothing.fit import fit_frames
from core.smoothing.kalman import MIN_VARIANCE, column_quantiles

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
    n_kp = xy.shape[2]
    sample = fit_frames(xy.shape[1]).ravel()  # quantiles need no more frames than the fit
    seen = likelihood[:, sample].reshape(-1, n_kp)
    levels = np.linspace(0, 1, CONFIDENCE_BINS + 1)[1:-1]
    edges = column_quantiles(seen, np.isfinite(xy[:, sample, :, 0]).reshape(-1, n_kp), levels, np.inf)
    return Members(*_members(xy, likelihood, np.ascontiguousarray(edges.T)))


@kernel
def _members(xy, likelihood, edges):  # pragma: no cover - compiled
    """``Members``' arrays; a prediction's bin is the number of its keypoint's ``edges`` below its
    likelihood."""
    n_members, n_frames, n_kp, _ = xy.shape
    xy0 = np.zeros(xy.shape)
    slots = np.empty((n_members, n_frames, n_kp), dtype=np.intp)
    valid = np.empty((n_members, n_frames, n_kp), dtype=np.bool_)
    for m in range(n_members):
        for t in range(n_frames):
            for k in range(n_kp):
                seen = np.isfinite(xy[m, t, k, 0])
                valid[m, t, k] = seen
                below = 0
                if seen:
                    xy0[m, t, k, 0], xy0[m, t, k, 1] = xy[m, t, k, 0], xy[m, t, k, 1]
                    for j in range(edges.shape[1]):
                        below += likelihood[m, t, k] > edges[k, j]
                slots[m, t, k] = k * CONFIDENCE_BINS + below
    return xy0, slots, valid


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

    def terms(self) -> tuple[np.ndarray, ...]:
        """What the compiled E-step reads, so that it takes no logarithm and divides by no
        variance: per member and keypoint ``1 / sigma2`` and ``log sigma2``; per slot ``1 / gain``
        and the log prior odds of an outlier plus ``log gain - log outlier_var``; per keypoint
        ``0.5 / outlier_var``."""
        log_prior = (
            np.log(self.outlier_prob)
            - np.log1p(-self.outlier_prob)
            + np.log(self.gain)
            - np.log(self.outlier_var)[:, None]
        )
        return (
            1.0 / self.sigma2,
            np.log(self.sigma2),
            1.0 / self.gain.ravel(),
            log_prior.ravel(),
            0.5 / self.outlier_var,
        )


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


@kernel(inline=True)
def _inlier(xy, m, t, k, slot, mean, var, terms):  # pragma: no cover - compiled
    """The probability that prediction ``(m, t, k)`` in ``slot`` is an inlier, its expected squared
    distance r2 from the trajectory and its inverse inlier variance 1 / v (``MemberNoise.terms``).
    The log of the outlier's over the inlier's density (2-D isotropic Gaussians) plus the prior
    odds is ``log(pi / (1 - pi)) - log(outlier_var) + log(v) + r2 (1 / 2v - 1 / 2 outlier_var)``."""
    inv_sigma2, log_sigma2, inv_gain, log_prior, half_inv_out = terms
    dx = xy[m, t, k, 0] - mean[t, k, 0]
    dy = xy[m, t, k, 1] - mean[t, k, 1]
    r2 = dx * dx + dy * dy + var[t, k, 0] + var[t, k, 1]
    inv_v = inv_sigma2[m, k] * inv_gain[slot]
    ratio = log_prior[slot] + log_sigma2[m, k] + r2 * (0.5 * inv_v - half_inv_out[k])
    return 1.0 / (1.0 + np.exp(ratio)), r2, inv_v  # exp overflows to inf: probability 0


@kernel
def _combine(xy, slots, valid, mean, var, terms):  # pragma: no cover - compiled
    n_members, n_frames, n_kp = valid.shape
    obs = np.full((n_frames, n_kp, 2), np.nan)
    obs_var = np.full((n_frames, n_kp, 2), np.nan)
    for t in range(n_frames):
        for k in range(n_kp):
            total = sum_x = sum_y = 0.0
            for m in range(n_members):
                if valid[m, t, k]:
                    rho, _, inv_v = _inlier(xy, m, t, k, slots[m, t, k], mean, var, terms)
                    precision = rho * inv_v
                    total += precision
                    sum_x += precision * xy[m, t, k, 0]
                    sum_y += precision * xy[m, t, k, 1]
            if total > 1.0 / MAX_COMBINED_VARIANCE:
                obs[t, k, 0], obs[t, k, 1] = sum_x / total, sum_y / total
                obs_var[t, k, 0] = obs_var[t, k, 1] = 1.0 / total
    return obs, obs_var


def combine(
    members: Members, noise: MemberNoise, mean: np.ndarray, var: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The E-step and the combination: ``(frames, keypoints, 2)`` observation (the members'
    mean weighted by each one's inlier probability over its inlier variance, given the trajectory's
    posterior ``mean`` and ``var``) and its variance; NaN where no member counts (or every member
    is judged an outlier)."""
    return _combine(members.xy, members.slots, members.valid, mean, var, noise.terms())


@kernel
def _moments(xy, slots, valid, mean, var, terms):  # pragma: no cover - compiled
    """The E-step's sums the M-step needs, over the predictions that count: per member and
    keypoint the inliers' weight and their ``rho r2 / gain``; per member and slot ``rho r2``; per
    slot the inliers' and outliers' weights, the count and the outliers' ``(1 - rho) r2``."""
    n_members, n_frames, n_kp = valid.shape
    inv_gain = terms[2]
    weight = np.zeros((n_members, n_kp))
    spread = np.zeros((n_members, n_kp))
    member_slot = np.zeros((n_members, inv_gain.size))
    per_slot = np.zeros((4, inv_gain.size))  # inliers, outliers, count, outliers' r2
    for m in range(n_members):
        for t in range(n_frames):
            for k in range(n_kp):
                if valid[m, t, k]:
                    slot = slots[m, t, k]
                    rho, r2, _ = _inlier(xy, m, t, k, slot, mean, var, terms)
                    weight[m, k] += rho
                    spread[m, k] += rho * r2 * inv_gain[slot]
                    member_slot[m, slot] += rho * r2
                    per_slot[0, slot] += rho
                    per_slot[1, slot] += 1.0 - rho
                    per_slot[2, slot] += 1.0
                    per_slot[3, slot] += (1.0 - rho) * r2
    return weight, spread, member_slot, per_slot


def update_noise(members: Members, noise: MemberNoise, mean: np.ndarray, var: np.ndarray) -> MemberNoise:
    """An EM iteration: the parameters maximising the expected log-likelihood of ``members`` given
    the trajectory's posterior ``mean`` and ``var`` under ``noise``."""
    n_kp = members.xy.shape[2]
    weight, spread, member_slot, per_slot = _moments(
        members.xy, members.slots, members.valid, mean, var, noise.terms()
    )
    sigma2 = spread / np.maximum(2 * weight, 1e-12)
    sigma2 = np.where(weight > 1.0, np.maximum(sigma2, MIN_VARIANCE), noise.sigma2)

    inliers, outliers, count, outliers_r2 = (row.reshape(n_kp, CONFIDENCE_BINS) for row in per_slot)
    bin_spread = (member_slot.reshape(-1, n_kp, CONFIDENCE_BINS) / sigma2[..., None]).sum(axis=0)
    new_gain = (bin_spread / 2 + BIN_PRIOR) / (inliers + BIN_PRIOR)
    mean_gain = (new_gain * inliers).sum(axis=1, keepdims=True) / np.maximum(
        inliers.sum(axis=1, keepdims=True), 1e-12
    )
    new_gain /= np.where(mean_gain > 0, mean_gain, 1.0)  # gain averages 1: sigma2 carries the scale
    overall = outliers.sum(axis=1, keepdims=True) / np.maximum(count.sum(axis=1, keepdims=True), 1.0)
    prob = np.clip((outliers + BIN_PRIOR * overall) / (count + BIN_PRIOR), *OUTLIER_PROB_RANGE)

    out_weight = outliers.sum(axis=1)
    out_var = outliers_r2.sum(axis=1) / np.maximum(2 * out_weight, 1e-12)
    floor = OUTLIER_VAR_FACTOR * np.median(sigma2, axis=0)
    out_var = np.where(out_weight > 1.0, np.maximum(out_var, floor), np.maximum(noise.outlier_var, floor))
    return MemberNoise(sigma2, new_gain, prob, out_var)


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
        for c, (members, (mean, var)) in enumerate(zip(cameras, tracks, strict=True)):
            f = fitted[c]
            noise[c] = update_noise(estimating[c], noise[c], mean[f], var[f])
            obs, obs_var = combine(members, noise[c], mean, var)
            observations.append(obs)
            variances.append(obs_var)
        result, tracks, _ = smooth(observations, variances, s if round_ == rounds - 1 else first)
    return result, noise
