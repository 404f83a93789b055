import numpy as np
import pytest

from core.plausibility.pose_gaussian import RIDGE_PX2, fit_pose_gaussian


def correlated_poses(frames: int = 200, seed: int = 0) -> np.ndarray:
    """``(frames, 4, 2)`` poses (pixels) whose coordinates are correlated, none exactly."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(8, 8)) * 10
    return (rng.normal(size=(frames, 8)) @ mixing + 100).reshape(frames, 4, 2)


def test_a_groups_residual_is_its_distance_from_the_conditional_mean():
    poses = correlated_poses()
    model = fit_pose_gaussian(poses)
    assert np.allclose(
        np.diag(model.covariance) - np.diag(np.cov(poses.reshape(200, 8), rowvar=False)), RIDGE_PX2
    )
    pose = poses[0] + [[0.0, 0.0], [7.0, -3.0], [0.0, 0.0], [0.0, 0.0]]
    pose[3] = np.nan  # missing: left out of the conditioning
    single, pair, missing = model.conditionals(pose, [[1], [0, 2], [3]])
    assert missing is None
    for conditional, group in ((single, [1]), (pair, [0, 2])):
        s = [2 * k + c for k in group for c in (0, 1)]
        r = [c for c in range(6) if c not in s]  # the present coordinates of the other keypoints
        sigma, d = model.covariance, pose.reshape(-1) - model.mean
        expected = d[s] - sigma[np.ix_(s, r)] @ np.linalg.solve(sigma[np.ix_(r, r)], d[r])
        covariance = sigma[np.ix_(s, s)] - sigma[np.ix_(s, r)] @ np.linalg.solve(
            sigma[np.ix_(r, r)], sigma[np.ix_(r, s)]
        )
        np.testing.assert_allclose(conditional.residual.reshape(-1), expected)
        assert conditional.m2 == pytest.approx(expected @ np.linalg.solve(covariance, expected))


def test_fitting_needs_complete_poses():
    poses = correlated_poses(5)
    poses[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="complete poses"):
        fit_pose_gaussian(poses)
