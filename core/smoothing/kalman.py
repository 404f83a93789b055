"""Random-walk Kalman smoothing with time-varying diagonal observation noise, batched over keypoints.

Model, per batch entry (keypoint): ``z_t = z_{t-1} + N(0, q I)``, ``y_t = C z_t + N(0, diag r_t)``,
``z_0 ~ N(m0, P0)``. An observation is missing where ``y`` or ``r`` is not finite; the smoother then
predicts through the frame and the posterior variance grows with the length of the gap.

Two exact solvers of the same posterior:
- ``smooth_independent`` (``IndependentSeries``): ``C = 1`` and one coordinate per series (the
  single-camera case, where x and y are independent). The posterior precision is tridiagonal; its
  LDL' factorisation (forward: the Kalman filter's information recursion) and the backward pass
  (the RTS smoother's means, and the posterior variances by Takahashi's recursion for the diagonal
  of the inverse) are compiled loops over frames, each frame a loop over the series (independent
  of each other, so the compiler can vectorise it). LAPACK's ``dpttrf``/``dpttrs`` do the same
  arithmetic on one series at a time, a chain of dependent divisions: 6-8x slower on 34 series x
  20,000 frames (measured). The
  fit of ``q`` (``fit.py``) calls the leave-one-out error about 17 times: ``loo_error`` folds it
  into the backward pass, so that nothing of the size of the video is written.
  ``IndependentSeries`` keeps what does not depend on ``q``.
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

from core.smoothing.compiled import kernel

# Observation variances below this (pixels², i.e. 0.01 px SD) are raised to it: members that agree
# exactly are a confident observation, not a missing one.
MIN_VARIANCE = 1e-4


def observed(y: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mask of usable observations and their variances raised to ``MIN_VARIANCE``."""
    mask = np.isfinite(y) & np.isfinite(r)
    return mask, np.where(mask, np.maximum(r, MIN_VARIANCE), np.inf)


class IndependentSeries:
    """B independent scalar random-walk series, prepared once for solving under many ``q`` (the
    fit tries about 17): a weight (precision) of 0 where an observation is missing, observations
    centred on the prior mean.

    Args:
        y: ``(frames, B)`` observations (pixels), NaN where missing.
        r: ``(frames, B)`` observation variances (pixels²), NaN/inf where missing.
        m0, p0: ``(B,)`` prior mean and variance of the first frame's state.
    """

    def __init__(self, y: np.ndarray, r: np.ndarray, m0: np.ndarray, p0: np.ndarray):
        mask, r = observed(y, r)
        self.mask = mask
        self.var = r
        self.w = 1.0 / r
        self.yc = np.where(mask, y - m0, 0.0)
        self.h = self.w * self.yc
        self.m0, self.p0 = np.asarray(m0, dtype=float), np.asarray(p0, dtype=float)

    def factor(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The LDL' factorisation of the posterior precision under ``q`` ``(B,)``: the inverse
        pivots 1 / D and the forward-substituted ``L^-1 h``, both ``(frames, B)``, and ``1 / q``."""
        iq = 1.0 / np.asarray(q, dtype=float)
        inverse_pivots, forward = np.empty_like(self.w), np.empty_like(self.w)
        if not _factor(self.w, self.h, iq, 1.0 / self.p0, inverse_pivots, forward):
            raise FloatingPointError("posterior precision is not positive definite")
        return inverse_pivots, forward, iq

    def posterior(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(frames, B)`` centred posterior means and posterior variances under ``q``."""
        inverse_pivots, forward, iq = self.factor(q)
        _backward(inverse_pivots, forward, iq)  # in place: the means and the variances
        return forward, inverse_pivots

    def loo_error(self, q: np.ndarray) -> np.ndarray:
        """``(B,)`` sum over frames of the squared leave-one-out residuals under ``q``, each in units
        of its observation SD (``fit.loo_residuals``; a missing frame adds nothing)."""
        return _backward_loo(*self.factor(q), self.yc, self.w)

    def loglik(self, q: np.ndarray) -> np.ndarray:
        """``(B,)`` marginal log-likelihoods under ``q``."""
        n_frames = self.w.shape[0]
        inverse_pivots, forward, _ = self.factor(q)
        # log p(y) = -(n log 2pi + log det R + log det J^-1 + log det Lambda + y'Wy - h'Lambda^-1 h) / 2,
        # J the prior precision (det J = 1 / (p0 q^(T-1))), Lambda = J + W = LDL' the posterior
        # precision, and h'Lambda^-1 h = sum (L^-1 h)^2 / D.
        logdet = (
            np.where(self.mask, np.log(self.var), 0.0).sum(axis=0)
            + np.log(self.p0)
            + (n_frames - 1) * np.log(q)
            - np.log(inverse_pivots).sum(axis=0)
        )
        quad = (self.h * self.yc).sum(axis=0) - (forward * forward * inverse_pivots).sum(axis=0)
        return -0.5 * (self.mask.sum(axis=0) * np.log(2 * np.pi) + logdet + quad)


# The compiled recursions. Series b's precision matrix has diagonal w_t + (1/q)(2, or 1 at the
# first and last frame) + 1/p0 at the first, and -1/q beside it; its pivots D_t = diag_t - (1/q)²
# / D_(t-1) and multipliers l_t = -(1/q) / D_(t-1). Arrays are (frames, B), series innermost; the
# pivots are kept as 1 / D, which leaves one division per frame and series.


@kernel
def _factor(w, h, iq, ip0, inverse_pivots, forward):  # pragma: no cover - compiled
    n_frames, n_series = w.shape
    ok = True
    for b in range(n_series):
        pivot = w[0, b] + ip0[b] + (iq[b] if n_frames > 1 else 0.0)
        ok &= pivot > 0.0  # False for NaN too
        inverse_pivots[0, b] = 1.0 / pivot
        forward[0, b] = h[0, b]
    for t in range(1, n_frames):
        neighbours = 1.0 if t == n_frames - 1 else 2.0
        for b in range(n_series):
            multiplier = -iq[b] * inverse_pivots[t - 1, b]
            pivot = w[t, b] + iq[b] * neighbours + iq[b] * multiplier
            ok &= pivot > 0.0
            inverse_pivots[t, b] = 1.0 / pivot
            forward[t, b] = h[t, b] - multiplier * forward[t - 1, b]
    return ok


@kernel(inline=True)
def _backward_step(inverse_pivot, forward, iq, mean_next, var_next):  # pragma: no cover - compiled
    """Frame t's posterior mean x_t = f_t / D_t - l_(t+1) x_(t+1) and variance
    S_t = 1 / D_t + l_(t+1)² S_(t+1), from frame t+1's."""
    multiplier = -iq * inverse_pivot
    return (
        forward * inverse_pivot - multiplier * mean_next,
        inverse_pivot + multiplier * multiplier * var_next,
    )


@kernel
def _backward(inverse_pivots, forward, iq):  # pragma: no cover - compiled
    """The means into ``forward``, the variances into ``inverse_pivots``."""
    n_frames, n_series = inverse_pivots.shape
    last = n_frames - 1
    for b in range(n_series):
        forward[last, b] *= inverse_pivots[last, b]
    for t in range(last - 1, -1, -1):
        for b in range(n_series):
            forward[t, b], inverse_pivots[t, b] = _backward_step(
                inverse_pivots[t, b], forward[t, b], iq[b], forward[t + 1, b], inverse_pivots[t + 1, b]
            )


@kernel
def _backward_loo(inverse_pivots, forward, iq, yc, w):  # pragma: no cover - compiled
    """``_backward``'s recursion, summing w_t ((y_t - x_t) / (1 - S_t w_t))² per series instead of
    storing x and S."""
    n_frames, n_series = inverse_pivots.shape
    last = n_frames - 1
    mean = forward[last] * inverse_pivots[last]
    var = inverse_pivots[last].copy()
    total = np.zeros(n_series)
    for t in range(last, -1, -1):
        for b in range(n_series):
            if t < last:
                mean[b], var[b] = _backward_step(inverse_pivots[t, b], forward[t, b], iq[b], mean[b], var[b])
            resid = (yc[t, b] - mean[b]) / (1.0 - var[b] * w[t, b])
            total[b] += w[t, b] * resid * resid
    return total


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
    return mean + m0, var


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
    for a column it keeps none of)."""
    return column_quantiles(values, mask, np.array([0.5]), 1.0)[0]


def column_quantiles(values: np.ndarray, mask: np.ndarray, levels: np.ndarray, default: float) -> np.ndarray:
    """``(levels, B)`` quantiles (numpy's linear interpolation) of each column of ``(n, B)``
    ``values`` over the entries ``mask`` keeps (``default`` for a column it keeps none of); the
    complete columns in one call."""
    quantiles = np.full((len(levels), values.shape[1]), default)
    complete = mask.all(axis=0)
    if complete.any():
        quantiles[:, complete] = np.quantile(values[:, complete], levels, axis=0)
    for b in np.flatnonzero(~complete & mask.any(axis=0)):
        quantiles[:, b] = np.quantile(values[mask[:, b], b], levels)
    return quantiles
