import numpy as np
import pytest

from core.errors import ConfigError
from core.labels.table import PREDICTION_FIELDS, PoseTable
from core.smoothing.ensemble import ensemble_stats
from core.smoothing.fit import FIT_BLOCK_FRAMES, MAX_FIT_FRAMES, fit_frames, golden_section_max
from core.smoothing.singlecam import smooth_single_camera
from core.smoothing.synthetic import simulate_ensemble


def random_walk_ensemble(n_frames=3000, n_members=5, noise_sd=2.0, step_sd=0.5, seed=0):
    rng = np.random.default_rng(seed)
    truth = 200 + np.cumsum(rng.normal(0, step_sd, (n_frames, 2, 2)), axis=0)
    members = []
    for _ in range(n_members):
        xy = truth + rng.normal(0, noise_sd, truth.shape)
        values = np.concatenate([xy, rng.uniform(0.9, 1.0, (n_frames, 2, 1))], axis=-1)
        members.append(PoseTable(["a", "b"], [str(i) for i in range(n_frames)], values, PREDICTION_FIELDS))
    return truth, members


def rmse(a, b):
    return float(np.sqrt(np.mean(np.sum((a - b) ** 2, axis=-1))))


def test_recovers_a_random_walk_within_the_noise_level():
    truth, members = random_walk_ensemble()
    stats = ensemble_stats(members)
    smoothed = smooth_single_camera(stats)
    # per coordinate error well below the members' noise SD (2 px) and below the median's
    assert rmse(smoothed.xy, truth) / np.sqrt(2) < 0.5 * 2.0
    assert rmse(smoothed.xy, truth) < 0.7 * rmse(stats.median, truth)
    # the fitted s is within a factor 2 of the true step variance 0.25 px² per frame (the per-frame
    # noise estimates from 5 members are themselves noisy, which biases s upwards)
    assert ((smoothed.s > 0.125) & (smoothed.s < 0.5)).all()
    zscores = (smoothed.xy - truth) / np.sqrt(smoothed.posterior_var)
    assert 0.8 < zscores.std() < 1.25


def test_all_member_gap_gives_finite_output_with_larger_variance():
    truth, members = random_walk_ensemble(n_frames=400)
    for m in members:
        m.values[200:210, 0, :] = np.nan
    smoothed = smooth_single_camera(ensemble_stats(members))
    assert np.isfinite(smoothed.xy).all() and np.isfinite(smoothed.posterior_var).all()
    gap_var = smoothed.posterior_var[200:210, 0]
    outside = smoothed.posterior_var[150:190, 0]
    assert gap_var.min() > outside.max() and gap_var[3:7].min() > 3 * np.median(outside)
    assert rmse(smoothed.xy[200:210, 0], truth[200:210, 0]) < 10.0
    # the other keypoint is untouched by the gap
    assert smoothed.posterior_var[200:210, 1].max() < 2 * np.median(smoothed.posterior_var[:, 1])


def test_zscores_are_calibrated_on_synthetic_data():
    truth, members = simulate_ensemble(n_members=5, n_keypoints=6, n_frames=4000, seed=3)
    stats = ensemble_stats(members)
    smoothed = smooth_single_camera(stats)
    zscores = (smoothed.xy - truth) / np.sqrt(smoothed.posterior_var)
    assert 0.8 < zscores.std() < 1.25
    assert rmse(smoothed.xy, truth) < rmse(stats.median, truth)


def test_fixed_smoothing_parameter_is_used_and_smaller_s_is_smoother():
    _, members = random_walk_ensemble(n_frames=500)
    stats = ensemble_stats(members)
    rough = smooth_single_camera(stats, s=10.0)
    smooth = smooth_single_camera(stats, s=0.01)
    np.testing.assert_array_equal(smooth.s, [0.01, 0.01])
    assert np.abs(np.diff(smooth.xy, axis=0)).mean() < 0.5 * np.abs(np.diff(rough.xy, axis=0)).mean()


@pytest.mark.parametrize("s", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_smoothing_parameter_is_a_clear_error(s):
    _, members = random_walk_ensemble(n_frames=20)
    with pytest.raises(ConfigError, match="positive number"):
        smooth_single_camera(ensemble_stats(members), s=s)


def test_a_keypoint_no_member_sees_is_nan_and_does_not_spoil_the_others():
    truth, members = random_walk_ensemble(n_frames=200)
    for m in members:
        m.values[:, 1, :] = np.nan
    smoothed = smooth_single_camera(ensemble_stats(members))
    assert np.isnan(smoothed.xy[:, 1]).all()
    assert np.isfinite(smoothed.xy[:, 0]).all()


def test_golden_section_finds_each_maximum():
    peaks = np.array([-3.0, 0.5, 7.0])
    best = golden_section_max(lambda x: -((x - peaks) ** 2), np.full(3, -10.0), np.full(3, 10.0), 1e-4)
    np.testing.assert_allclose(best, peaks, atol=1e-4)


def test_fit_frames_uses_evenly_spaced_blocks_on_long_videos():
    np.testing.assert_array_equal(fit_frames(300), np.arange(300)[None])
    blocks = fit_frames(20_000)
    assert blocks.shape == (MAX_FIT_FRAMES // FIT_BLOCK_FRAMES, FIT_BLOCK_FRAMES)
    assert blocks[0, 0] == 0 and blocks[-1, -1] == 19_999


@pytest.mark.parametrize("cores", [1, 2, 4])
def test_batches_on_any_number_of_cores_give_the_same_trajectories(monkeypatch, cores):
    """Keypoints smoothed in batches (one batch per keypoint here), in threads, give what one batch
    on one core gives, to rounding (numpy's vector loops round arrays of other widths a last bit
    apart); progress counts every keypoint, one call at a time, and ends at all of them."""
    _, members = simulate_ensemble(n_members=3, n_keypoints=5, n_frames=800, seed=3)
    stats = ensemble_stats(members)
    monkeypatch.setattr("core.smoothing.singlecam.os.cpu_count", lambda: 1)
    alone = smooth_single_camera(stats)
    monkeypatch.setattr("core.smoothing.singlecam.os.cpu_count", lambda: cores)
    monkeypatch.setattr("core.smoothing.singlecam.BATCH_PREDICTIONS", 3 * 800)
    inside, reports = [0], []

    def progress(done, total):
        inside[0] += 1
        assert inside[0] == 1, "progress called from two threads at once"
        reports.append((done, total))
        inside[0] -= 1

    batched = smooth_single_camera(stats, progress=progress)
    for field in ("xy", "posterior_var", "s"):
        np.testing.assert_allclose(getattr(batched, field), getattr(alone, field), rtol=1e-12, atol=1e-12)
    done = [d for d, _ in reports]
    assert done == sorted(done) and done[-1] == 5 and {t for _, t in reports} == {5}
    assert len(reports) == 5 * (1 + 4)  # per keypoint: its passes (robust.ROUNDS + 1) and its end


def test_a_progress_callback_that_raises_stops_the_smoothing(monkeypatch):
    _, members = simulate_ensemble(n_members=3, n_keypoints=4, n_frames=500, seed=4)
    monkeypatch.setattr("core.smoothing.singlecam.os.cpu_count", lambda: 2)
    calls = []

    def cancelled(done, total):
        calls.append(done)
        raise InterruptedError("job cancelled")

    with pytest.raises(InterruptedError, match="job cancelled"):
        smooth_single_camera(ensemble_stats(members), progress=cancelled)
    assert len(calls) <= 2  # each batch's first pass at most
