"""The smoother on every family of benchmarks/eks_families.py (an independent generator), seeded.

Bounds come from the truth, not from past output: the error must be below that of the mean of the
members had none of them failed (noise SD / sqrt(members) per coordinate, which needs the temporal
model to beat), well below the ensemble median's, and the z-scores (error / posterior SD) must
have SD 0.8-1.25 (calibrated).
"""

import numpy as np
import pytest

from benchmarks.eks_families import CAMERA_FAMILIES, FAMILIES, simulate, simulate_cameras
from core.smoothing.ensemble import ensemble_stats
from core.smoothing.multicam import smooth_multi_camera
from core.smoothing.singlecam import smooth_single_camera

CALIBRATED = (0.8, 1.25)


def rmse(a, b):
    return float(np.sqrt(np.mean(np.sum((a - b) ** 2, axis=-1))))


def clean_mean_rmse(noise_px, members):
    """Euclidean RMSE of the mean of ``members`` outlier-free members of SD ``noise_px``."""
    return noise_px * np.sqrt(2 / members)


@pytest.mark.parametrize("fam", FAMILIES, ids=lambda f: f.name)
def test_single_camera_family(fam):
    truth, members = simulate(fam, n_frames=3000, seed=1, keypoints=4)
    stats = ensemble_stats(members)
    smoothed = smooth_single_camera(stats)
    assert np.isfinite(smoothed.xy).all() and (smoothed.posterior_var > 0).all()
    error = rmse(smoothed.xy, truth)
    assert error < 0.8 * clean_mean_rmse(fam.noise_px, fam.members)
    assert error < (0.25 if fam.outlier_heavy else 0.8) * rmse(stats.median, truth)
    z = (smoothed.xy - truth) / np.sqrt(smoothed.posterior_var)
    assert CALIBRATED[0] < z.std() < CALIBRATED[1]


@pytest.mark.parametrize("cam", CAMERA_FAMILIES, ids=lambda c: c.name)
def test_multi_camera_family(cam):
    views = simulate_cameras(cam, n_frames=600, seed=1, keypoints=3)
    stats = {name: ensemble_stats(members) for name, (_, members) in views.items()}
    result = smooth_multi_camera(stats)
    truth = np.stack([t for t, _ in views.values()])
    xy = np.stack([result.views[name].xy for name in views])
    var = np.stack([result.views[name].posterior_var for name in views])
    assert np.isfinite(xy).all() and (var > 0).all()
    error = rmse(xy, truth)
    assert error < 0.8 * clean_mean_rmse(cam.view.noise_px, cam.view.members)
    median = np.stack([stats[name].median for name in views])
    assert error < (0.25 if cam.view.outlier_heavy else 0.8) * rmse(median, truth)
    z = (xy - truth) / np.sqrt(var)
    assert CALIBRATED[0] < z.std() < CALIBRATED[1]


def test_families_differ_from_each_other_and_are_reproducible():
    names = [f.name for f in FAMILIES]
    assert len(set(names)) == len(names) >= 6
    assert {f.trajectory for f in FAMILIES} == {"sines_drift", "random_walk", "piecewise"}
    assert {f.members for f in FAMILIES} >= {3, 4, 5, 6}
    assert any(f.informative for f in FAMILIES) and not all(f.informative for f in FAMILIES)
    a, b = simulate(FAMILIES[6], 300, seed=3)[1], simulate(FAMILIES[6], 300, seed=3)[1]
    assert all(np.array_equal(x.values, y.values, equal_nan=True) for x, y in zip(a, b, strict=True))
    assert np.isnan(a[0].values).any()  # the missing-stretches family has gaps
