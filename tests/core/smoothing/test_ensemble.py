from pathlib import Path

import numpy as np
import pytest

from core.errors import LabelFormatError
from core.labels.dlc_csv import write_pose_csv
from core.labels.table import PREDICTION_FIELDS, PoseTable
from core.smoothing.ensemble import VARIANCE_FLOOR_FRACTION, ensemble_stats, median_variance_factor
from core.smoothing.io import read_ensemble


def member(values, keypoints=("a",)) -> PoseTable:
    values = np.asarray(values, dtype=float).reshape(len(values), len(keypoints), 3)
    return PoseTable(list(keypoints), [str(i) for i in range(len(values))], values, PREDICTION_FIELDS)


def test_median_variance_and_likelihood_by_hand():
    members = [
        member([[0, 10, 1.0], [5, 5, 0.5]]),
        member([[2, 10, 0.5], [np.nan, 5, 0.9]]),
        member([[4, 16, 0.9], [7, 9, 0.5]]),
    ]
    stats = ensemble_stats(members)
    np.testing.assert_allclose(stats.median[0, 0], [2, 10])
    np.testing.assert_allclose(stats.likelihood[0, 0], 0.8)
    # population variance of (0, 2, 4) = 8/3 and of (10, 10, 16) = 8, divided by mean likelihood 0.8
    np.testing.assert_allclose(stats.variance[0, 0], [8 / 3 / 0.8, 8 / 0.8])
    # frame 1: the NaN member is left out of every statistic
    np.testing.assert_allclose(stats.median[1, 0], [6, 7])
    np.testing.assert_allclose(stats.variance[1, 0], [1 / 0.5, 4 / 0.5])
    assert stats.noise[0, 0, 0] == pytest.approx(stats.variance[0, 0, 0] * median_variance_factor(3))
    assert stats.noise[1, 0, 0] == pytest.approx(stats.variance[1, 0, 0] * median_variance_factor(2))


def test_single_member_variance_is_inverse_likelihood_and_zero_likelihood_is_missing():
    stats = ensemble_stats([member([[1, 2, 0.5], [3, 4, 0.0], [np.nan, 4, 1.0]])])
    np.testing.assert_allclose(stats.variance[0, 0], [2, 2])
    assert np.isnan(stats.variance[1:]).all() and np.isnan(stats.noise[1:]).all()
    np.testing.assert_allclose(stats.median[1, 0], [3, 4])
    assert np.isnan(stats.median[2]).all() and np.isnan(stats.likelihood[2, 0])


def test_identical_members_get_a_floor_not_zero_noise():
    rows = [[0, 0, 1.0], [1, 1, 1.0], [2, 2, 1.0]]
    spread = member([[0, 0, 1.0], [1, 1, 1.0], [2, 5, 1.0]])
    stats = ensemble_stats([member(rows), member(rows), spread])
    assert stats.variance[0, 0, 0] == 0.0
    typical = np.median(stats.variance[:, 0, 1])
    assert stats.noise[0, 0, 1] == pytest.approx(
        VARIANCE_FLOOR_FRACTION * typical * median_variance_factor(3)
    )
    assert stats.noise[0, 0, 0] == 0.0  # x never varies: its typical variance is 0 too


def test_median_variance_factor_matches_theory():
    assert median_variance_factor(1) == median_variance_factor(2) == 1.0
    # var(median of 3 normals) = 0.4487, expected population variance 2/3
    assert median_variance_factor(3) == pytest.approx(0.4487 / (2 / 3), rel=0.02)
    assert median_variance_factor(5) == pytest.approx(0.2868 / 0.8, rel=0.02)


def test_keypoint_order_is_aligned_to_the_first_member():
    a = member([[1, 2, 1, 10, 20, 1]], keypoints=("p", "q"))
    b = member([[11, 21, 1, 3, 4, 1]], keypoints=("q", "p"))
    stats = ensemble_stats([a, b])
    np.testing.assert_allclose(stats.median[0], [[2, 3], [10.5, 20.5]])


def test_mismatched_keypoints_are_a_clear_error():
    with pytest.raises(LabelFormatError, match=r"missing \['a'\].*not in the project \['b'\]"):
        ensemble_stats([member([[1, 2, 1]]), member([[1, 2, 1]], keypoints=("b",))], ["m1.csv", "m2.csv"])


def test_different_frame_counts_are_a_clear_error():
    with pytest.raises(LabelFormatError, match="m2.csv has 1 frames but m1.csv has 2"):
        ensemble_stats([member([[1, 2, 1], [1, 2, 1]]), member([[1, 2, 1]])], ["m1.csv", "m2.csv"])


def test_labels_without_likelihood_are_rejected():
    labels = PoseTable(["a"], ["0"], np.zeros((1, 1, 2)))
    with pytest.raises(LabelFormatError, match="likelihood"):
        ensemble_stats([labels])


def test_a_file_without_frames_is_a_clear_error(tmp_path: Path):
    good = write_pose_csv(member([[1, 2, 1]]), tmp_path / "good.csv")
    empty = write_pose_csv(
        PoseTable(["a"], [], np.zeros((0, 1, 3)), PREDICTION_FIELDS), tmp_path / "empty.csv"
    )
    with pytest.raises(LabelFormatError, match="empty.csv has no frames"):
        read_ensemble([good, empty])
    (tmp_path / "blank.csv").write_text("")
    with pytest.raises(LabelFormatError, match="blank.csv: expected 3 header rows"):
        read_ensemble([good, tmp_path / "blank.csv"])
    with pytest.raises(LabelFormatError, match="no member prediction files"):
        read_ensemble([])
