from pathlib import Path

import numpy as np
import pytest

from core.config import ProjectConfig
from core.errors import LabelFormatError
from core.labels.dlc_csv import write_pose_csv
from core.labels.table import PoseTable
from core.plausibility.pose_pca import (
    NotEnoughPosesError,
    fit_pose_pca,
    fit_project_pose_pca,
    reconstruction_errors,
)
from tests.testdata import EXAMPLE_PROJECT

NAMES = ["a", "b", "c", "d", "e"]


def low_rank_poses(frames: int, rank: int = 2, seed: int = 0) -> np.ndarray:
    """``(frames, 5, 2)`` poses (pixels) lying exactly in a ``rank``-dimensional affine subspace."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(rank, 2 * len(NAMES))) * 30
    return (rng.normal(size=(frames, rank)) @ basis + 200).reshape(frames, len(NAMES), 2)


def test_subspace_poses_have_zero_error_and_an_impossible_pose_a_large_one():
    pca = fit_pose_pca(low_rank_poses(50), NAMES)
    assert pca.components.shape == (2, 10)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(2), atol=1e-9)
    assert pca.explained_variance_ratio.sum() == pytest.approx(1.0)
    assert pca.error_p99.shape == (5,) and (pca.error_p99 < 1e-6).all()
    fresh = low_rank_poses(60, seed=0)[50:]  # new poses from the same subspace
    assert np.abs(pca.errors(fresh)).max() < 1e-6
    impossible = fresh[:1].copy()
    impossible[0, 3] += [40.0, -30.0]  # one keypoint 50 px off the plausible poses
    errors = pca.errors(impossible)[0]
    assert errors[3] > 20 and np.linalg.norm(errors) <= 50.0 + 1e-9  # the off-subspace part of 50 px


def test_components_keep_99_percent_of_the_variance_and_p99_matches_training_errors():
    rng = np.random.default_rng(1)
    poses = low_rank_poses(300, rank=3) + rng.normal(scale=0.5, size=(300, 5, 2))
    pca = fit_pose_pca(poses, NAMES)
    assert pca.explained_variance_ratio.sum() >= 0.99
    assert pca.explained_variance_ratio[:-1].sum() < 0.99  # the fewest components that do
    errors = pca.errors(poses)
    np.testing.assert_allclose(pca.error_p99, np.percentile(errors, 99, axis=0))
    assert 0.1 < pca.error_p99.mean() < 3.0  # pixels, the noise level


def test_missing_keypoints_are_ignored_in_the_fit_and_projected_around():
    poses = low_rank_poses(40)
    poses[::4, 1] = np.nan  # 10 incomplete frames
    pca = fit_pose_pca(poses, NAMES)
    assert pca.n_frames == 30
    probe = low_rank_poses(45)[40:].copy()
    probe[:, 0] = np.nan
    probe[1, 2] += 50.0
    errors = pca.errors(probe)
    assert np.isnan(errors[:, 0]).all()
    assert np.nanmax(np.abs(errors[[0, 2, 3, 4]])) < 1e-6
    assert errors[1, 2] > 10
    almost_empty = np.full((1, 5, 2), np.nan)
    almost_empty[0, 0] = [1.0, 2.0]  # 2 coordinates cannot test a 2-D subspace
    assert np.isnan(pca.errors(almost_empty)).all()


def test_too_few_complete_frames_says_how_many_are_needed():
    poses = low_rank_poses(30)
    poses[5:, 4] = np.nan  # only 5 complete frames; 11 needed for 10 dimensions
    with pytest.raises(NotEnoughPosesError, match=r"at least 11 frames .* have 5.*Label more frames"):
        fit_pose_pca(poses, NAMES)
    with pytest.raises(NotEnoughPosesError, match="at least 10 frames"):
        fit_pose_pca(low_rank_poses(9)[:, :2], NAMES[:2])


def test_identical_poses_are_rejected():
    poses = np.repeat(low_rank_poses(1), 20, axis=0)
    with pytest.raises(NotEnoughPosesError, match="all the same"):
        fit_pose_pca(poses, NAMES)


def test_wrong_pose_shape_is_a_value_error():
    pca = fit_pose_pca(low_rank_poses(20), NAMES)
    with pytest.raises(ValueError, match=r"shape \(frames, 5, 2\)"):
        reconstruction_errors(np.zeros((3, 4, 2)), pca.mean, pca.components)


def test_project_fit_uses_pca_keypoints_of_the_real_labels():
    from core.config import load_project

    project = load_project(EXAMPLE_PROJECT)
    pca = fit_project_pose_pca(project)
    assert pca.keypoints == project.pca_keypoints
    assert pca.mean.shape == (2 * len(project.pca_keypoints),)
    assert pca.n_frames >= 2 * len(project.pca_keypoints) + 1
    assert (pca.error_p99 > 0).all() and (pca.error_p99 < 100).all()  # pixels


def test_project_without_enough_labels_raises_the_clear_error(tmp_path: Path):
    project = ProjectConfig(name="p", keypoints=NAMES, data_dir=tmp_path)
    with pytest.raises(NotEnoughPosesError, match="does not exist yet"):
        fit_project_pose_pca(project)
    rows = [f"labeled-data/v/img{i:08d}.png" for i in range(4)]
    write_pose_csv(PoseTable(NAMES, rows, low_rank_poses(4)), tmp_path / "CollectedData.csv")
    with pytest.raises(NotEnoughPosesError, match="have 4"):
        fit_project_pose_pca(project)


def test_project_labels_with_other_keypoints_are_a_clear_error(tmp_path: Path):
    project = ProjectConfig(name="p", keypoints=NAMES, data_dir=tmp_path)
    other = ["a", "b", "c", "d", "tail"]
    write_pose_csv(PoseTable(other, ["img0.png"], low_rank_poses(1)), tmp_path / "CollectedData.csv")
    with pytest.raises(LabelFormatError, match=r"missing \['e'\]; not in the project \['tail'\]"):
        fit_project_pose_pca(project)
