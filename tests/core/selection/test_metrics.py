import numpy as np
import pytest

from core.errors import LabelFormatError
from core.labels.table import PoseTable
from core.selection.metrics import ensemble_std, frame_metrics, pca_error
from core.smoothing.ensemble import ensemble_stats
from tests.core.selection.mouse import GLITCH_FRAMES, GLITCH_KEYPOINT


def test_ensemble_std_is_the_root_of_the_summed_weighted_variances():
    xy = np.array([[[0.0, 0.0]], [[2.0, 0.0]], [[0.0, 4.0]], [[2.0, 4.0]]])  # 4 members, 1 frame
    members = [
        PoseTable(["k"], ["0"], np.concatenate([p[None], [[[0.5]]]], axis=-1), ("x", "y", "likelihood"))
        for p in xy
    ]
    stats = ensemble_stats(members)
    # x variance 1, y variance 4 (ddof 0), each divided by the mean likelihood 0.5
    np.testing.assert_allclose(ensemble_std(stats), [[np.sqrt((1 + 4) / 0.5)]])


def test_real_ensemble_metrics_and_planted_glitches(planted_members, mouse_pca):
    stats = ensemble_stats(planted_members)
    metrics = frame_metrics(stats, mouse_pca)
    assert list(metrics) == ["temporal_norm", "pca_error", "ensemble_std", "confidence"]
    for values in metrics.values():
        assert values.shape == (2000, 8)
    assert np.isnan(metrics["temporal_norm"][0]).all() and np.isfinite(metrics["temporal_norm"][1:]).all()
    typical_jump = np.median(metrics["temporal_norm"][1:, GLITCH_KEYPOINT])
    typical_pca = np.median(metrics["pca_error"][:, GLITCH_KEYPOINT])
    for frame in GLITCH_FRAMES:
        assert metrics["temporal_norm"][frame, GLITCH_KEYPOINT] > 40 > 5 * typical_jump  # pixels
        assert metrics["pca_error"][frame, GLITCH_KEYPOINT] > 10 * typical_pca
    np.testing.assert_allclose(metrics["confidence"], stats.likelihood)


def test_one_member_has_no_ensemble_std_and_no_pca_without_a_fit(mouse_members):
    metrics = frame_metrics(ensemble_stats(mouse_members[:1]))
    assert list(metrics) == ["temporal_norm", "confidence"]


def test_pca_keypoints_missing_from_the_predictions_are_a_clear_error(mouse_members, mouse_pca):
    stats = ensemble_stats([m.select_keypoints(m.keypoints[:4]) for m in mouse_members])
    with pytest.raises(LabelFormatError, match="missing"):
        pca_error(stats, mouse_pca)
