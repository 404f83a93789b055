"""Random-walk Kalman smoothing with time-varying diagonal observation noise, batched over keypoints.

Model, per batch entry (keypoint): ``z_t = z_{t-1} + N(0, q I)``, ``y_t = C z_t + N(0, diag r_t)``,
``z_0 ~ N(m0, P0)``. An observation is missing where ``y`` or ``r`` is not finite; the smoother then
predicts through the frame and the posterior variance grows with the length of the gap.

Two exact solvers of the same posterior:
- ``smooth_independent`` (``IndependentSeries``): ``C = 1`` and one coordinate per series (the
  single-camera case, where x and y are independent). The posterior precision is tridiagonal;
  LAPACK's ``dpttrf``/``dpttrs`` factor all series at once (stacked into one block-diagonal
  system), which gives the RTS smoother's means and variances and the Kalman filter's marginal
  likelihood in compiled O(T) code. ``IndependentSeries`` keeps what does not depend on ``q``, so
  that the fit's trial values each cost one factorisation.
- ``kalman_smooth``: a d-dimensional latent seen through a ``(m, d)`` matrix C (the multi-camera
  case): information-form Kalman filter and Rauch-Tung-Striebel smoother, looping over frames with
  all keypoints batched.

``loglik_independent`` and ``kalman_smooth`` give the marginal log-likelihood ``log p(y)`` of each
batch entry (the Kalman filter's prediction-error decomposition) for comparison; ``fit`` chooses
``q`` by leave-one-out error instead (the random walk is only an approximation of how keypoints
move), from the posterior variances.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

# Observation variances below this (pixels², i.e. 0.01 px SD) are raised to it: members that agree
# exactly are a confident observation, not a missing one.
MIN_VARIANCE = 1e-4


def observed(y: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mask of usable observations and their variances raised to ``MIN_VARIANCE``."""
    mask = np.isfinite(y) & np.isfinite(r)
    return mask, np.where(mask, np.maximum(r, MIN_VARIANCE), np.inf)


class IndependentSeries:
    """B independent scalar random-walk series, prepared once for solving under many ``q`` (the
    fit tries about 17), in LAPACK's layout: series-major, a weight (precision) of 0 where an
    observation is missing, observations centred on the prior mean.

    Args:
        y: ``(frames, B)`` observations (pixels), NaN where missing.
        r: ``(frames, B)`` observation variances (pixels²), NaN/inf where missing.
        m0, p0: ``(B,)`` prior mean and variance of the first frame's state.
    """

    def __init__(self, y: np.ndarray, r: np.ndarray, m0: np.ndarray, p0: np.ndarray):
        mask, r = observed(y, r)
        self.mask = np.ascontiguousarray(mask.T)
        self.var = np.ascontiguousarray(r.T)
        self.w = 1.0 / self.var
        self.yc = np.ascontiguousarray(np.where(mask, y - m0, 0.0).T)
        self.h = (self.w * self.yc).ravel()
        self.m0, self.p0 = np.asarray(m0, dtype=float), np.asarray(p0, dtype=float)

    def factor(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The tridiagonal posterior precision under ``q`` ``(B,)`` (no coupling between series) and
        its LDL' factors (LAPACK dpttrf): diagonal, off-diagonal, pivots D, multipliers; flat."""
        n_series, n_frames = self.w.shape
        iq = (1.0 / np.asarray(q, dtype=float))[:, None]
        diag = self.w + 2.0 * iq
        diag[:, 0] += 1.0 / self.p0 - iq[:, 0]
        diag[:, -1] -= iq[:, 0]
        off = np.broadcast_to(-iq, (n_series, n_frames)).copy()
        off[:, -1] = 0.0
        diag, off = diag.ravel(), off.ravel()[:-1]
        pivots, multipliers, info = lapack.dpttrf(diag, off)
        if info != 0:
            raise FloatingPointError(f"posterior precision is not positive definite (LAPACK info {info})")
        return diag, off, pivots, multipliers

    def posterior(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(B, frames)`` centred posterior means and posterior variances under ``q``."""
        diag, off, pivots, multipliers = self.factor(q)
        mean = lapack.dpttrs(pivots, multipliers, self.h)[0]
        # diag of the inverse: 1 / (forward pivot + backward pivot - diagonal) (the two sides of a
        # chain are independent given the middle); backward pivots factor the reversed matrix.
        backward = lapack.dpttrf(diag[::-1], off[::-1])[0][::-1]
        var = 1.0 / (pivots + backward - diag)
        return mean.reshape(self.w.shape), var.reshape(self.w.shape)

    def loglik(self, q: np.ndarray) -> np.ndarray:
        """``(B,)`` marginal log-likelihoods under ``q``."""
        n_series, n_frames = self.w.shape
        _, _, pivots, multipliers = self.factor(q)
        mean = lapack.dpttrs(pivots, multipliers, self.h)[0]
        # log p(y) = -(n log 2pi + log det R + log det J^-1 + log det Lambda + y'Wy - h'Lambda^-1 h) / 2,
        # J the prior precision (det J = 1 / (p0 q^(T-1))) and Lambda = J + W the posterior precision.
        logdet = (
            np.where(self.mask, np.log(self.var), 0.0).sum(axis=1)
            + np.log(self.p0)
            + (n_frames - 1) * np.log(q)
            + np.log(pivots).reshape(n_series, n_frames).sum(axis=1)
        )
        quad = (self.w * self.yc * self.yc).sum(axis=1) - (self.h * mean).reshape(n_series, n_frames).sum(
            axis=1
        )
        return -0.5 * (self.mask.sum(axis=1) * np.log(2 * np.pi) + logdet + quad)


def loglik_independent(
    y: np.ndarray, r: np.ndarray, q: np.ndarray, m0: np.ndarray, p0: np.ndarray
) -> np.ndarray:
    """``(B,)`` marginal log-likelihood of B independent scalar random-walk series (arguments as
    ``smooth_independent``)."""
    return IndependentSeries(y, r, m0, p0).loglik(q)


def smooth_independent(
    y: np.ndarray, r: np.ndarray, q: np.ndarray, m0: np.ndarray, p0: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Scalar random-walk smoother for B independent series, exact (equals Kalman filter + RTS).

    Args:
        y: ``(frames, B)`` observations (pixels), NaN where missing.
        r: ``(frames, B)`` observation variances (pixels²), NaN/inf where missing.
        q: ``(B,)`` random-walk variance per frame (pixels²).
        m0, p0: ``(B,)`` prior mean and variance of the first frame's state.

    Returns:
        ``(frames, B)`` posterior means and ``(frames, B)`` posterior variances.
    """
    mean, var = IndependentSeries(y, r, m0, p0).posterior(q)
    return mean.T + m0, var.T


def kalman_filter(
    y: np.ndarray, r: np.ndarray, c: np.ndarray, q: np.ndarray, m0: np.ndarray, p0: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kalman filter for a d-dimensional random-walk latent, batched over B entries.

    Args:
        y: ``(frames, B, m)`` observations, NaN where missing.
        r: ``(frames, B, m)`` observation variances, NaN/inf where missing.
        c: ``(B, m, d)`` observation matrices.
        q: ``(B,)`` random-walk variance per frame of each latent dimension.
        m0: ``(B, d)`` prior mean; p0: ``(B, d, d)`` prior covariance of the first frame's state.

    Returns:
        ``(frames, B, d)`` filtered means, ``(frames, B, d, d)`` filtered covariances, ``(B,)``
        marginal log-likelihoods.
    """
    n_frames, n_batch, _ = y.shape
    dim = c.shape[-1]
    mask, r = observed(y, r)
    w = 1.0 / r  # (T, B, m); 0 where missing
    y0 = np.where(mask, y, 0.0)
    ct = np.swapaxes(c, 1, 2)  # (B, d, m)
    q_eye = np.asarray(q, dtype=float)[:, None, None] * np.eye(dim)
    means = np.empty((n_frames, n_batch, dim))
    covs = np.empty((n_frames, n_batch, dim, dim))
    quad = np.zeros(n_batch)
    # log det S_t = log det R_t + log det P_pred - log det P_post (matrix determinant lemma)
    logdet = np.where(mask, np.log(r), 0.0).sum(axis=(0, 2))
    m, p_pred = np.asarray(m0, dtype=float), np.asarray(p0, dtype=float)
    for t in range(n_frames):
        if t:
            p_pred = covs[t - 1] + q_eye
        innov = (y0[t] - np.einsum("bmd,bd->bm", c, m)) * mask[t]
        ctw = ct * w[t][:, None, :]  # (B, d, m)
        p_post = np.linalg.inv(np.linalg.inv(p_pred) + ctw @ c)
        ctwe = np.einsum("bdm,bm->bd", ctw, innov)
        m = m + np.einsum("bij,bj->bi", p_post, ctwe)
        # e' S^-1 e by Woodbury: e'We - e'WC P_post C'We
        quad += (innov * innov * w[t]).sum(axis=1) - np.einsum("bi,bij,bj->b", ctwe, p_post, ctwe)
        logdet += np.linalg.slogdet(p_pred)[1] - np.linalg.slogdet(p_post)[1]
        means[t], covs[t] = m, p_post
    loglik = -0.5 * (mask.sum(axis=(0, 2)) * np.log(2 * np.pi) + logdet + quad)
    return means, covs, loglik


def kalman_smooth(
    y: np.ndarray, r: np.ndarray, c: np.ndarray, q: np.ndarray, m0: np.ndarray, p0: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kalman filter + Rauch-Tung-Striebel smoother; arguments as ``kalman_filter``.

    Returns:
        ``(frames, B, d)`` posterior means, ``(frames, B, d, d)`` posterior covariances, ``(B,)``
        marginal log-likelihoods.
    """
    means, covs, loglik = kalman_filter(y, r, c, q, m0, p0)
    q_eye = np.asarray(q, dtype=float)[:, None, None] * np.eye(c.shape[-1])
    for t in range(len(means) - 2, -1, -1):
        gain = covs[t] @ np.linalg.inv(covs[t] + q_eye)
        means[t] = means[t] + np.einsum("bij,bj->bi", gain, means[t + 1] - means[t])
        covs[t] = covs[t] + gain @ (covs[t + 1] - covs[t] - q_eye) @ np.swapaxes(gain, 1, 2)
    return means, covs, loglik


def diffuse_prior(y: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(B,)`` prior mean and variance of the first state of each series in ``y`` ``(frames, B)``.

    The mean of the observed values, and their variance plus the median observation variance
    (broad, so the first frames follow the data); 0 and 1 for a series with no observations.
    """
    mask, r = observed(y, r)
    n = mask.sum(axis=0)
    safe = np.maximum(n, 1)
    mean = np.where(mask, y, 0.0).sum(axis=0) / safe
    spread = np.where(mask, (y - mean) ** 2, 0.0).sum(axis=0) / safe
    return np.where(n > 0, mean, 0.0), spread + column_medians(r, mask)


def column_medians(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(B,)`` median of each column of ``(n, B)`` ``values`` over the entries ``mask`` keeps (1
    for a column it keeps none of); the complete columns in one call."""
    medians = np.ones(values.shape[1])
    complete = mask.all(axis=0)
    if complete.any():
        medians[complete] = np.median(values[:, complete], axis=0)
    for b in np.flatnonzero(~complete & mask.any(axis=0)):
        medians[b] = np.median(values[mask[:, b], b])
    return medians
