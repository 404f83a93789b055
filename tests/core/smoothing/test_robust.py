"""The outlier-robust combination of members (core/smoothing/robust.py): its compiled E-step against
the model's formulas written out in numpy, and EM recovering known member noise and outlier rates."""

import numpy as np

from core.smoothing.robust import (
    CONFIDENCE_BINS,
    MemberNoise,
    combine,
    initial_noise,
    members_of,
    squared_residuals,
    update_noise,
)


def ensemble(seed: int = 0, n_frames: int = 4000, sds=(1.0, 2.0, 4.0), outlier_rate: float = 0.05):
    """Members around a known trajectory: Gaussian noise of their own SD, and outliers 30-60 px off."""
    rng = np.random.default_rng(seed)
    truth = np.cumsum(rng.normal(0, 0.5, (n_frames, 2, 2)), axis=0) + 100
    members = truth + rng.normal(size=(len(sds), n_frames, 2, 2)) * np.array(sds)[:, None, None, None]
    outlier = rng.random((len(sds), n_frames, 2)) < outlier_rate
    jump = rng.uniform(30, 60, outlier.shape) * np.exp(2j * np.pi * rng.random(outlier.shape))
    members[..., 0] += np.where(outlier, jump.real, 0)
    members[..., 1] += np.where(outlier, jump.imag, 0)
    likelihood = rng.uniform(0.5, 1.0, outlier.shape)
    members[1, 100:200, 1] = np.nan  # a member missing a stretch of one keypoint
    return truth, members, likelihood, outlier


def test_combination_is_the_models_inlier_weighted_mean():
    truth, xy, likelihood, _ = ensemble(n_frames=500)
    members = members_of(xy, likelihood)
    rng = np.random.default_rng(1)
    noise = MemberNoise(
        sigma2=rng.uniform(0.5, 5, (3, 2)),
        gain=rng.uniform(0.5, 2, (2, CONFIDENCE_BINS)),
        outlier_prob=rng.uniform(0.01, 0.2, (2, CONFIDENCE_BINS)),
        outlier_var=np.array([400.0, 900.0]),
    )
    var = np.full(truth.shape, 0.3)
    obs, obs_var = combine(members, noise, truth, var)

    # the model written out: inlier N(truth, v) vs outlier N(truth, outlier_var), 2-D isotropic
    v = noise.sigma2[:, None, :] * noise.gain.ravel()[members.slots]
    pi = noise.outlier_prob.ravel()[members.slots]
    out = noise.outlier_var[None, None, :]
    r2 = ((xy - truth) ** 2).sum(axis=-1) + var.sum(axis=-1)
    inlier = (1 - pi) / v * np.exp(-r2 / (2 * v))
    outlier = pi / out * np.exp(-r2 / (2 * out))
    weight = np.where(members.valid, inlier / (inlier + outlier) / v, 0.0)
    expected = np.einsum("mtk,mtkc->tkc", weight, np.nan_to_num(xy)) / weight.sum(axis=0)[..., None]
    np.testing.assert_allclose(obs, expected, rtol=1e-9)
    np.testing.assert_allclose(obs_var[..., 0], 1 / weight.sum(axis=0), rtol=1e-9)
    assert not np.isnan(obs).any()


def test_em_recovers_each_members_noise_and_the_outlier_rate():
    truth, xy, likelihood, outlier = ensemble()
    members = members_of(xy, likelihood)
    var = np.zeros(truth.shape)
    noise = initial_noise(members, squared_residuals(members, truth, var))
    for _ in range(10):
        noise = update_noise(members, noise, truth, var)
    np.testing.assert_allclose(np.sqrt(noise.sigma2), [[1.0] * 2, [2.0] * 2, [4.0] * 2], rtol=0.06)
    # likelihood here says nothing about outliers: every bin's rate is near the true 5 %
    assert np.all(np.abs(noise.outlier_prob - outlier.mean()) < 0.02)
    obs, _ = combine(members, noise, truth, var)
    # no observation only where every member that sees the keypoint is an outlier
    all_out = ~(members.valid & ~outlier).any(axis=0)
    np.testing.assert_array_equal(np.isnan(obs[..., 0]), all_out)
    median_error = np.sqrt(((np.nanmedian(xy, axis=0) - truth)[~all_out] ** 2).mean())
    combined_error = np.sqrt(((obs - truth)[~all_out] ** 2).mean())
    assert combined_error < 0.7 * median_error
