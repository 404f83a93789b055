"""The per frame x keypoint metrics written after prediction, on a video-like walk through the real
mirror-mouse labels with planted errors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.labels.dlc_csv import write_pose_csv
from core.labels.table import PREDICTION_FIELDS, PoseTable
from core.predict.metrics import write_prediction_metrics

JUMP_FRAME = 25  # paw3RF_top jumps 60 px in x for one frame
DISAGREE_FRAME = 40  # paw2LF_bot is 60 px off its top-view partner in x from here on
METRICS = ("temporal_norm", "pca_singleview_error", "pca_multiview_error")


@pytest.fixture(scope="module")
def planted(trajectory) -> np.ndarray:
    xy = trajectory.copy()
    xy[JUMP_FRAME, 2, 0] += 60.0
    xy[DISAGREE_FRAME:, 9, 0] += 60.0
    return xy


def write_predictions(xy: np.ndarray, path: Path) -> Path:
    values = np.concatenate([xy, np.full((*xy.shape[:2], 1), 0.9)], axis=-1)
    keypoints = [
        "paw1LH_top", "paw2LF_top", "paw3RF_top", "paw4RH_top", "tailBase_top", "tailMid_top", "nose_top",
        "obs_top", "paw1LH_bot", "paw2LF_bot", "paw3RF_bot", "paw4RH_bot", "tailBase_bot", "tailMid_bot",
        "nose_bot", "obsHigh_bot", "obsLow_bot",
    ]  # fmt: skip
    table = PoseTable(keypoints, [str(i) for i in range(len(xy))], values, PREDICTION_FIELDS, "model")
    return write_pose_csv(table, path)


def read_metric(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, index_col=0)


def test_writes_the_three_metrics_in_the_pixel_error_layout(
    project, pose_pca, multiview_pca, trajectory, planted, tmp_path
):
    csv = write_predictions(planted, tmp_path / "test_vid.csv")
    (written,) = write_prediction_metrics([csv], project, tmp_path / "metrics")
    assert {name: path.name for name, path in written.items()} == {
        name: f"test_vid.{name}.csv" for name in METRICS
    }
    for path in written.values():
        table = read_metric(path)
        assert table.shape == (len(planted), 17) and list(table.columns) == project.keypoints
        assert table.index.name == "frame" and list(table.index) == list(range(len(planted)))

    temporal = read_metric(written["temporal_norm"]).to_numpy()
    expected = np.linalg.norm(planted[1:] - planted[:-1], axis=-1)
    assert np.isnan(temporal[0]).all()
    np.testing.assert_allclose(temporal[1:], expected, rtol=1e-12)
    assert temporal[JUMP_FRAME, 2] > 55 and temporal[JUMP_FRAME + 1, 2] > 55
    assert (
        np.nanmax(np.delete(temporal[1:], [JUMP_FRAME - 1, JUMP_FRAME, DISAGREE_FRAME - 1], axis=0))
        <= 4.0 + 1e-9
    )

    single = read_metric(written["pca_singleview_error"])
    assert single[["obs_top", "obsHigh_bot", "obsLow_bot"]].isna().all().all()  # not Pose PCA keypoints
    columns = project.index_of(pose_pca.keypoints)
    centred = planted[:, columns].reshape(len(planted), -1) - pose_pca.mean
    residual = centred - centred @ pose_pca.components.T @ pose_pca.components
    np.testing.assert_allclose(
        single[pose_pca.keypoints].to_numpy(), np.linalg.norm(residual.reshape(len(planted), -1, 2), axis=-1)
    )

    multi = read_metric(written["pca_multiview_error"])
    assert multi[["obs_top", "obsHigh_bot", "obsLow_bot"]].isna().all().all()
    disagreement = multi[["paw2LF_top", "paw2LF_bot"]].to_numpy()
    assert (disagreement[DISAGREE_FRAME:] > 20).all() and (disagreement[:DISAGREE_FRAME] < 10).all()
    # a multi-view row is one body part: the other parts score as on the unplanted walk
    clean = multiview_pca.keypoint_errors(trajectory, project.keypoints)
    untouched = [k for k in project.index_of(multiview_pca.keypoints) if k not in (1, 2, 9, 10)]
    np.testing.assert_allclose(multi.to_numpy()[:, untouched], clean[:, untouched])
    # the jump moves paw3RF_top away from its bottom-view partner in that frame only
    jumped = multi[["paw3RF_top", "paw3RF_bot"]].to_numpy() - clean[:, [2, 10]]
    assert (jumped[JUMP_FRAME] > 20).all() and (np.abs(np.delete(jumped, JUMP_FRAME, axis=0)) < 1e-9).all()


def test_a_single_view_project_has_no_multiview_error_and_no_warning_about_it(
    project, planted, tmp_path, caplog
):
    single_view = project.model_copy(update={"view_matches": []})
    csv = write_predictions(planted, tmp_path / "clip.eks.csv")
    with caplog.at_level(logging.WARNING, logger="core.predict.metrics"):
        (written,) = write_prediction_metrics([csv], single_view)
    assert set(written) == {"temporal_norm", "pca_singleview_error"}
    assert written["temporal_norm"] == tmp_path / "clip.eks.temporal_norm.csv"
    assert not (tmp_path / "clip.eks.pca_multiview_error.csv").exists()
    assert caplog.records == []


def test_skips_a_pca_metric_it_cannot_fit_and_says_why(project, planted, tmp_path, caplog):
    one_view_matched = project.model_copy(update={"view_matches": project.view_matches[:1]})
    csv = write_predictions(planted, tmp_path / "clip.csv")
    with caplog.at_level(logging.WARNING, logger="core.predict.metrics"):
        (written,) = write_prediction_metrics([csv], one_view_matched)
    assert set(written) == {"temporal_norm", "pca_singleview_error"}
    assert not (tmp_path / "clip.pca_multiview_error.csv").exists()
    assert "clip.csv: not writing pca_multiview_error: multi-view PCA needs" in caplog.text


def test_fits_the_pcas_on_the_labels_given(project, labels, planted, tmp_path, caplog):
    csv = write_predictions(planted, tmp_path / "v.csv")
    few = type(labels)(labels.keypoints, labels.index[:1], labels.values[:1])
    with caplog.at_level(logging.WARNING, logger="core.predict.metrics"):
        (written,) = write_prediction_metrics([csv], project, labels=[few])
    assert set(written) == {"temporal_norm"}
    assert "Pose PCA needs at least 29 frames" in caplog.text
    assert "multi-view PCA needs at least 10 body-part positions labeled in all 2 views" in caplog.text
