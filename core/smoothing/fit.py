"""Choosing the smoothing parameter (the random-walk variance) and calibrating the posterior.

s minimises the leave-one-out error of the observations (cross-validation, exact in one smoothing
pass), computed under the same time-varying observation noise the final smoothing pass uses; the
posterior variances are then scaled so that the leave-one-out residuals are as large as the model
predicts. Why not the marginal likelihood: see ``fit_independent``. Long videos are fitted on a
few evenly spaced blocks of frames (each its own series), which keeps the cost bounded; the final
pass always smooths every frame.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from core.smoothing.kalman import IndependentSeries, column_medians, diffuse_prior, observed

FIT_BLOCK_FRAMES = 1000
MAX_FIT_FRAMES = 5000
# Search range of s relative to the keypoint's median observation noise.
RELATIVE_RANGE = (1e-4, 1e4)
LOG_TOLERANCE = 0.02  # in natural-log units of s (2 %)
VARIANCE_SCALE_RANGE = (0.5, 2.0)

_INVPHI = (np.sqrt(5.0) - 1.0) / 2.0


def golden_section_max(
    objective: Callable[[np.ndarray], np.ndarray],
    lo: np.ndarray,
    hi: np.ndarray,
    tol: float,
) -> np.ndarray:
    """Maximise B independent 1-D functions at once by golden-section search.

    Args:
        objective: maps ``(B,)`` arguments to ``(B,)`` values (one call per iteration).
        lo, hi: ``(B,)`` search intervals.
        tol: final interval width.

    Returns:
        ``(B,)`` maximisers (exact for unimodal functions, to within ``tol``).
    """
    a, b = np.asarray(lo, dtype=float).copy(), np.asarray(hi, dtype=float).copy()
    c, d = b - _INVPHI * (b - a), a + _INVPHI * (b - a)
    fc, fd = objective(c), objective(d)
    while np.max(b - a) > tol:
        left = fc >= fd  # the maximum lies in [a, d]
        a, b = np.where(left, a, c), np.where(left, d, b)
        new = np.where(left, b - _INVPHI * (b - a), a + _INVPHI * (b - a))
        f_new = objective(new)
        c, fc, d, fd = (
            np.where(left, new, d),
            np.where(left, f_new, fd),
            np.where(left, c, new),
            np.where(left, fc, f_new),
        )
    return np.where(fc >= fd, c, d)


def fit_frames(n_frames: int) -> np.ndarray:
    """``(blocks, block_frames)`` frame indices the fit uses: all frames if at most
    ``MAX_FIT_FRAMES``, else ``MAX_FIT_FRAMES // FIT_BLOCK_FRAMES`` evenly spaced blocks."""
    if n_frames <= MAX_FIT_FRAMES:
        return np.arange(n_frames)[None]
    n_blocks = MAX_FIT_FRAMES // FIT_BLOCK_FRAMES
    starts = np.linspace(0, n_frames - FIT_BLOCK_FRAMES, n_blocks).round().astype(int)
    return starts[:, None] + np.arange(FIT_BLOCK_FRAMES)


def typical_noise(noise: np.ndarray) -> np.ndarray:
    """``(keypoints,)`` median observation variance of each keypoint over frames and coordinates
    (1 where it is never observed); ``noise`` is ``(frames, keypoints, coords)``."""
    columns = np.moveaxis(noise, 1, -1).reshape(-1, noise.shape[1])
    return column_medians(columns, np.isfinite(columns))


def loo_residuals(
    y: np.ndarray, r: np.ndarray, mean: np.ndarray, var: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leave-one-out residuals of a linear smoother's posterior ``mean``/``var`` (all ``(frames, B)``).

    Leaving frame t out moves its residual by ``1 / (1 - h_t)``, ``h_t`` the posterior over the
    observation variance (the hat matrix's diagonal), so one smoothing pass gives them all.

    Returns:
        the residuals (0 where missing), the predictive variance of the state without frame t and
        the observation variances (inf where missing), all ``(frames, B)``.
    """
    mask, r = observed(y, r)
    keep = 1.0 - var / r
    resid = np.where(mask, (y - mean) / keep, 0.0)
    return resid, var / keep, r


def variance_scale(y: np.ndarray, r: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """``(keypoints,)`` factors on the posterior variances that make the leave-one-out residuals as
    large as predicted: ``sum (e^2 - r) / sum var_loo`` in units of r over a keypoint's frames and
    coordinates, clipped to ``VARIANCE_SCALE_RANGE``; all arguments ``(frames, keypoints, coords)``.

    A random walk fitted to smooth motion over-states its uncertainty (the motion between frames
    is more predictable than a random walk's), by up to 1.6x in variance on synthetic families;
    this measures it on the data.
    """
    resid, prior, r = loo_residuals(y, r, mean, var)
    mask = np.isfinite(r)
    excess = np.where(mask, resid * resid / r - 1.0, 0.0).sum(axis=(0, 2))
    predicted = np.where(mask, prior / r, 0.0).sum(axis=(0, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(predicted > 0, np.clip(excess / predicted, *VARIANCE_SCALE_RANGE), 1.0)


def fit_independent(median: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Random-walk variance per keypoint, its coordinates sharing it, minimising the leave-one-out error.

    Not the marginal likelihood: that trusts the random walk, and keypoints move smoothly (their
    steps are correlated), for which it chose s 5-20x the s of least error on the synthetic families
    (benchmarks/eks_families.py; RMSE 0.90 instead of 0.63 px on one); the leave-one-out error of
    the observations (cross-validation, as for smoothing splines) tracks the error against the truth
    without assuming the model, and agrees with the likelihood where the motion is a random walk.

    Args:
        median: ``(frames, keypoints, 2)`` observations, pixels (NaN where missing).
        noise: ``(frames, keypoints, 2)`` their variances, pixels² (NaN where missing).

    Returns:
        ``(keypoints,)`` s in pixels² per frame.
    """
    _, n_kp, n_coords = median.shape
    frames = fit_frames(median.shape[0])
    # (block_frames, blocks * keypoints * coords) independent series
    y = median[frames.T].reshape(frames.shape[1], -1)
    r = noise[frames.T].reshape(frames.shape[1], -1)
    series = IndependentSeries(y, r, *diffuse_prior(y, r))
    scale = typical_noise(noise[frames.ravel()])

    def score(log_rel: np.ndarray) -> np.ndarray:
        q = np.broadcast_to((scale * np.exp(log_rel))[None, :, None], (len(frames), n_kp, n_coords))
        return -series.loo_error(q.ravel()).reshape(len(frames), n_kp, n_coords).sum(axis=(0, 2))

    lo, hi = np.log(RELATIVE_RANGE)
    best = golden_section_max(score, np.full(n_kp, lo), np.full(n_kp, hi), LOG_TOLERANCE)
    return scale * np.exp(best)


def loo_latent(
    y: np.ndarray, r: np.ndarray, c: np.ndarray, mean: np.ndarray, cov: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leave-one-frame-out residuals of a latent smoother (``kalman_smooth``'s ``mean``/``cov``).

    The vector form of ``loo_residuals``: without frame t the residual is ``(I - H_t)^-1 u_t``,
    ``H_t = C P_t C' W_t`` (W the observation precision), and the state's variance
    ``(P_t^-1 - C' W_t C)^-1``.

    Returns:
        per frame and batch entry ``(frames, B)``: the squared residual in units of the noise
        (``e' W e``), its expected excess over the noise under the model (``tr(W C P_loo C')``)
        and the number of observed coordinates.
    """
    mask, r = observed(y, r)
    w = 1.0 / r
    resid = np.where(mask, y - np.einsum("bmd,tbd->tbm", c, mean), 0.0)
    c_cov = np.einsum("bmi,tbij->tbmj", c, cov)
    hat = np.einsum("tbmj,bnj->tbmn", c_cov, c) * w[..., None, :]
    loo = np.linalg.solve(np.eye(y.shape[-1]) - hat, resid[..., None])[..., 0]
    quad = (loo * loo * w).sum(axis=-1)
    info = np.linalg.inv(cov) - np.einsum("bmi,tbm,bmj->tbij", c, w, c)
    expected = np.einsum("bmi,tbij,bmj,tbm->tb", c, np.linalg.inv(info), c, w)
    return quad, expected, mask.sum(axis=-1)


def fit_latent(y: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Random-walk variance of a latent seen through ``c``, per keypoint, as ``fit_independent``
    chooses it for the frames' least-squares latents (each dimension a scalar series with its
    variance; their noise correlations ignored, which only this choice of s does).

    The exact criterion (``loo_latent`` on ``kalman_smooth``, a Python loop over the frames) cost
    0.7 s per trial s on 2,000 frames of 6 keypoints; this one a few milliseconds.

    Args:
        y: ``(frames, keypoints, m)`` centred observations, pixels (NaN where missing).
        r: ``(frames, keypoints, m)`` their variances, pixels² (NaN where missing).
        c: ``(keypoints, m, d)`` observation matrices (orthonormal columns).

    Returns:
        ``(keypoints,)`` s in pixels² per frame.
    """
    mask, r = observed(y, r)
    w = 1.0 / r
    info = np.einsum("kmi,tkm,kmj->tkij", c, w, c)
    # a frame seen in too few views to fix every latent dimension is left out
    seen = np.linalg.matrix_rank(info, tol=1e-9) == c.shape[-1]
    info[~seen] = np.eye(c.shape[-1])
    cov = np.linalg.inv(info)
    z = np.einsum("tkij,kmj,tkm->tki", cov, c, w * np.where(mask, y, 0.0))
    var = np.diagonal(cov, axis1=-2, axis2=-1).copy()
    z[~seen], var[~seen] = np.nan, np.nan
    return fit_independent(z, var)


def latent_variance_scale(
    y: np.ndarray, r: np.ndarray, c: np.ndarray, mean: np.ndarray, cov: np.ndarray
) -> np.ndarray:
    """``(B,)`` factors on a latent smoother's posterior covariances: ``variance_scale`` per batch entry."""
    quad, expected, n_obs = loo_latent(y, r, c, mean, cov)
    excess, predicted = (quad - n_obs).sum(axis=0), expected.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(predicted > 0, np.clip(excess / predicted, *VARIANCE_SCALE_RANGE), 1.0)
