import numpy as np
from scipy.stats import multivariate_normal

from core.smoothing.kalman import kalman_smooth, loglik_independent, smooth_independent


def series(seed: int = 0, n_frames: int = 60, n_series: int = 3):
    rng = np.random.default_rng(seed)
    y = np.cumsum(rng.normal(size=(n_frames, n_series)), axis=0) + rng.normal(size=(n_frames, n_series))
    r = rng.uniform(0.5, 2.0, (n_frames, n_series))
    y[20:30, 1] = np.nan
    r[40:45, 2] = np.inf
    return y, r, np.array([0.5, 1.0, 2.0]), np.zeros(n_series), np.full(n_series, 10.0)


def test_tridiagonal_solver_equals_kalman_filter_and_rts_smoother():
    y, r, q, m0, p0 = series()
    mean, var = smooth_independent(y, r, q, m0, p0)
    z, cov, loglik_kf = kalman_smooth(
        y[..., None], r[..., None], np.ones((3, 1, 1)), q, m0[:, None], p0[:, None, None]
    )
    np.testing.assert_allclose(mean, z[..., 0], atol=1e-9)
    np.testing.assert_allclose(var, cov[..., 0, 0], rtol=1e-9)
    np.testing.assert_allclose(loglik_independent(y, r, q, m0, p0), loglik_kf, rtol=1e-10)


def test_marginal_likelihood_equals_the_dense_gaussian_density():
    y, r, q, m0, p0 = series()
    loglik = loglik_independent(y, r, q, m0, p0)
    n_frames = len(y)
    steps = np.arange(n_frames)
    for b in range(3):
        prior_cov = p0[b] + q[b] * np.minimum.outer(steps, steps)  # random walk started at N(m0, p0)
        seen = np.isfinite(y[:, b]) & np.isfinite(r[:, b])
        cov = prior_cov[np.ix_(seen, seen)] + np.diag(r[seen, b])
        expected = multivariate_normal(np.full(seen.sum(), m0[b]), cov).logpdf(y[seen, b])
        assert abs(loglik[b] - expected) < 1e-8


def test_variance_grows_through_a_gap_and_the_mean_stays_finite():
    y, r, q, m0, p0 = series()
    mean, var = smooth_independent(y, r, q, m0, p0)
    assert np.isfinite(mean).all() and np.isfinite(var).all()
    gap = var[20:30, 1]
    assert gap[4:6].min() > 2 * var[:15, 1].max()  # largest mid-gap
    assert gap[4] > gap[0] and gap[4] > gap[-1]


def test_multivariate_smoother_recovers_a_latent_seen_through_a_matrix():
    rng = np.random.default_rng(1)
    n_frames = 400
    latent = np.cumsum(rng.normal(0, 0.5, (n_frames, 2, 3)), axis=0)
    c = np.linalg.qr(rng.normal(size=(2, 6, 3)))[0]  # (batch, m, d) orthonormal columns
    noise_sd = 1.0
    y = np.einsum("bmd,tbd->tbm", c, latent) + rng.normal(0, noise_sd, (n_frames, 2, 6))
    y[100:120] = np.nan
    r = np.full(y.shape, noise_sd**2)
    z, cov, _ = kalman_smooth(
        y, r, c, np.full(2, 0.25), np.zeros((2, 3)), np.tile(np.eye(3) * 100, (2, 1, 1))
    )
    error = z - latent
    assert np.sqrt(np.mean(error[:100] ** 2)) < 0.6 * noise_sd
    zscores = error / np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    assert 0.8 < zscores.std() < 1.25
