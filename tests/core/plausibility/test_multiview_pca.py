"""The multi-view PCA fit (the Pose PCA fit generalised to rows of one body part in all views) on
the real mirror-mouse labels, and its clear errors when it cannot be fitted."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import load_project
from core.labels.formats import read_labels
from core.plausibility.pose_pca import (
    NotEnoughPosesError,
    fit_multiview_pca,
    fit_project_multiview_pca,
    fit_project_pose_pca,
    from_pca_rows,
    pca_rows,
)
from tests.testdata import EXAMPLE_PROJECT


@pytest.fixture(scope="module")
def project():
    return load_project(EXAMPLE_PROJECT)


@pytest.fixture(scope="module")
def labels(project):
    return read_labels(project.data_dir / project.labels_file)


def test_rows_hold_one_body_part_in_all_views_and_map_back():
    poses = np.arange(2 * 6 * 2, dtype=float).reshape(2, 6, 2)  # 2 frames, 2 views x 3 parts
    rows = pca_rows(poses, views=2)
    assert rows.shape == (6, 2, 2)
    np.testing.assert_array_equal(rows[4], [poses[1, 1], poses[1, 4]])  # frame 1, part 1, both views
    per_point = np.linalg.norm(rows, axis=-1)
    np.testing.assert_array_equal(from_pca_rows(per_point, 2, views=2), np.linalg.norm(poses, axis=-1))
    assert pca_rows(poses, views=1) is poses


def test_mirrored_views_fit_three_components_on_the_real_labels(project, labels):
    pca = fit_project_multiview_pca(project)
    assert pca.views == 2 and pca.components.shape == (3, 4) and pca.mean.shape == (4,)
    assert pca.keypoints == project.view_matches[0] + project.view_matches[1]
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(3), atol=1e-9)
    # a mirror shows x twice: the discarded direction is x_top - x_bottom, so 3 axes keep > 99 %
    assert pca.explained_variance_ratio.sum() > 0.99
    discarded = np.linalg.svd(pca.components)[2][-1]
    assert (
        abs(discarded[0]) > 0.6 and abs(discarded[2]) > 0.6 and np.sign(discarded[0]) != np.sign(discarded[2])
    )
    # epsilon: per keypoint, the 99th percentile of the training rows' errors
    poses = labels.select_keypoints(pca.keypoints).xy
    np.testing.assert_allclose(pca.error_p99, np.nanpercentile(pca.errors(poses), 99, axis=0))
    assert pca.error_p99.shape == (14,) and (pca.error_p99 > 0.5).all() and (pca.error_p99 < 30).all()
    assert pca.n_frames == int(np.isfinite(poses).all(axis=-1).any(axis=-1).sum())


def test_the_pose_pca_fit_on_given_labels_uses_only_those(project, labels):
    train = type(labels)(labels.keypoints, labels.index[:60], labels.values[:60])
    pca = fit_project_pose_pca(project, [train])
    complete = np.isfinite(train.select_keypoints(project.pca_keypoints).xy).all(axis=(1, 2))
    assert pca.n_frames == complete.sum() < fit_project_pose_pca(project).n_frames


def test_too_few_rows_labeled_in_all_views_is_a_clear_error(project, labels):
    one_frame = type(labels)(labels.keypoints, labels.index[:1], labels.values[:1])
    top, bottom = (np.isfinite(one_frame.select_keypoints(v).xy).all(-1) for v in project.view_matches)
    assert (top & bottom).sum() == 5  # of its 7 body parts
    with pytest.raises(
        NotEnoughPosesError,
        match=r"multi-view PCA needs at least 10 body-part positions labeled in all 2 views \(4 dimensions\), "
        r"but the given labels have 5\. Label the same body parts in every view",
    ):
        fit_project_multiview_pca(project, [one_frame])
    few = type(labels)(labels.keypoints, labels.index[:5], labels.values[:5])  # 2 of them complete
    with pytest.raises(
        NotEnoughPosesError, match=r"Pose PCA needs at least 29 frames .* have 2\. Label more"
    ):
        fit_project_pose_pca(project, [few])


def test_a_body_part_never_seen_in_both_views_is_named(project, labels):
    values = labels.values.copy()
    values[:, labels.keypoints.index("nose_bot")] = np.nan
    with pytest.raises(
        NotEnoughPosesError, match=r"\['nose_top', 'nose_bot'\] are never labeled in all views"
    ):
        fit_project_multiview_pca(project, [type(labels)(labels.keypoints, labels.index, values)])


def test_a_project_without_view_matches_cannot_fit_a_multiview_pca(project):
    single = project.model_copy(update={"view_matches": []})
    with pytest.raises(
        NotEnoughPosesError, match="view_matches, or separate cameras; project 'mirror-mouse' has neither"
    ):
        fit_project_multiview_pca(single)


def test_views_must_be_aligned():
    with pytest.raises(ValueError, match="same frames and body parts"):
        fit_multiview_pca([np.zeros((20, 3, 2)), np.zeros((19, 3, 2))], [["a", "b", "c"]] * 2)
    with pytest.raises(ValueError, match="2 or more views"):
        fit_multiview_pca([np.zeros((20, 3, 2))], [["a", "b", "c"]])
