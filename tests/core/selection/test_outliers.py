import numpy as np
import pytest
import yaml

from core.config import ProjectConfig, load_project
from core.errors import LabelFormatError, PoseCloudError
from core.labels.dlc_csv import write_pose_csv
from core.labels.formats import read_labels
from core.labels.table import PoseTable
from core.selection.outliers import (
    MIN_CONFIDENCE,
    Z_THRESHOLD,
    cluster_poses,
    diverse_picks,
    outlier_scores,
    robust_z,
    suggest_frames,
    suggest_session_frames,
)
from tests.core.selection.mouse import DISAGREE_FRAME, GLITCH_FRAMES
from tests.testdata import CAMERA_VIEWS, make_camera_project


def test_robust_z_uses_median_and_mad_and_survives_zero_spread():
    values = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [4.0, 5.0], [100.0, np.nan]])
    z = robust_z(values)
    # median 3, MAD 1 -> scale 1.4826
    np.testing.assert_allclose(z[:, 0], (values[:, 0] - 3.0) / 1.4826)
    np.testing.assert_allclose(z[:4, 1], 0.0)
    assert np.isnan(z[4, 1])
    spiky = np.array([[0.0], [0.0], [0.0], [0.0], [8.0]])  # MAD 0: the mean absolute deviation scales
    np.testing.assert_allclose(robust_z(spiky)[:, 0], [0, 0, 0, 0, 8.0 / (1.2533 * 1.6)])


def test_outlier_flags_count_and_evidence():
    rng = np.random.default_rng(0)
    temporal = rng.uniform(1, 2, size=(50, 3))
    temporal[10, 1] = 30.0  # a jump
    confidence = np.full((50, 3), 0.9)
    confidence[20, 2] = MIN_CONFIDENCE - 0.1
    confidence[30, 0] = np.nan  # no member predicts it
    scores = outlier_scores({"temporal_norm": temporal, "confidence": confidence})
    assert scores.outliers.sum() == 3
    assert scores.outliers[10, 1] and scores.outliers[20, 2] and scores.outliers[30, 0]
    np.testing.assert_array_equal(np.flatnonzero(scores.count), [10, 20, 30])
    assert scores.score[10] == pytest.approx(robust_z(temporal)[10, 1])
    assert scores.score[20] == scores.score[30] == Z_THRESHOLD
    ranking = scores.ranking()
    assert list(ranking[:3]) == [10, 20, 30] and sorted(ranking) == list(range(50))


def test_clusters_separate_distinct_poses():
    rng = np.random.default_rng(0)
    centres = rng.uniform(0, 300, size=(3, 4, 2))
    poses = np.concatenate([c + rng.normal(scale=1.0, size=(10, 4, 2)) for c in centres])
    poses[3, 1, 0] = np.nan
    labels = cluster_poses(poses, 3, seed=0)
    assert [len(set(labels[i * 10 : (i + 1) * 10])) for i in range(3)] == [1, 1, 1]
    assert len(set(labels)) == 3
    np.testing.assert_array_equal(labels, cluster_poses(poses, 3, seed=0))


def test_diverse_picks_respect_the_gap_and_fill_up_from_the_ranking():
    ranking = np.array([50, 51, 52, 10, 90, *[f for f in range(100) if f not in (50, 51, 52, 10, 90)]])
    poses = np.zeros((100, 2, 2))  # one pose: a single cluster
    picks = diverse_picks(ranking, poses, 3, min_gap=5)
    np.testing.assert_array_equal(picks, [10, 50, 90])
    with pytest.raises(PoseCloudError, match="only 10 frames can be picked at least 10 frames apart"):
        diverse_picks(np.arange(100), poses, 11, min_gap=10)


def test_planted_errors_are_suggested_from_the_real_ensemble(planted_members, mouse_pca):
    table = suggest_frames(planted_members, None, 20, pca=mouse_pca, min_gap=10)
    frames = table["frame"].to_numpy()
    assert len(frames) == 20 and list(frames) == sorted(frames)
    assert set(GLITCH_FRAMES) | {DISAGREE_FRAME} <= set(frames)
    assert np.diff(frames).min() >= 10
    assert list(table.columns) == [
        "frame",
        "rank",
        "score",
        "outlier_keypoints",
        "flagged_keypoints",
        "reasons",
        "temporal_norm_max",
        "pca_error_max",
        "ensemble_std_max",
        "confidence_min",
    ]
    disagree = table.set_index("frame").loc[DISAGREE_FRAME]
    assert disagree["rank"] == 1 and disagree["outlier_keypoints"] == 8
    assert disagree["ensemble_std_max"] > 30  # pixels
    assert "ensemble spread" in disagree["reasons"].split(";")
    glitch = table.set_index("frame").loc[GLITCH_FRAMES[0]]
    assert "paw3RF_top" in glitch["flagged_keypoints"].split(";") and glitch["temporal_norm_max"] > 40
    assert "jump" in glitch["reasons"].split(";")
    assert table.attrs["skipped_metrics"] == {}
    wide = suggest_frames(planted_members, None, 20, pca=mouse_pca, min_gap=60)
    assert np.diff(wide["frame"]).min() >= 60


def test_one_member_skips_the_spread_and_a_project_without_labels_skips_pca(mouse_members, tmp_path):
    project = ProjectConfig(name="mouse", keypoints=mouse_members[0].keypoints[::-1], data_dir=tmp_path)
    table = suggest_frames(mouse_members[:1], project, 5)
    assert set(table.attrs["skipped_metrics"]) == {"ensemble_std", "pca_error"}
    assert "does not exist yet" in table.attrs["skipped_metrics"]["pca_error"]
    assert "ensemble_std_max" not in table and "pca_error_max" not in table
    assert len(table) == 5 and np.diff(table["frame"]).min() >= 10


@pytest.mark.parametrize(
    ("n", "message"),
    [(0, "at least 1, got 0"), (2001, "2001 frames asked for but the predictions have only 2000")],
)
def test_bad_frame_counts_are_clear_errors(mouse_members, n, message):
    with pytest.raises(PoseCloudError, match=message):
        suggest_frames(mouse_members, None, n)


def test_frames_labeled_or_picked_before_are_not_picked_again(mouse_members):
    first = suggest_frames(mouse_members, None, 10)
    again = suggest_frames(mouse_members, None, 10, exclude=first["frame"].tolist())
    assert len(again) == 10 and not set(again["frame"]) & set(first["frame"])
    assert 1 in first["rank"].values and 1 not in again["rank"].values  # the worst frame went first time
    with pytest.raises(PoseCloudError, match="1990 of them labeled or picked already; ask for at most 10"):
        suggest_frames(mouse_members, None, 11, exclude=range(10, 2000))


def test_bad_gap_and_mismatched_members_are_clear_errors(mouse_members):
    with pytest.raises(PoseCloudError, match="minimum gap .* at least 1 frame"):
        suggest_frames(mouse_members, None, 5, min_gap=0)
    short = mouse_members[1].select_keypoints(mouse_members[1].keypoints)
    short.index, short.values = short.index[:100], short.values[:100]
    with pytest.raises(LabelFormatError, match="b.csv has 100 frames but a.csv has 2000"):
        suggest_frames([mouse_members[0], short], None, 5, sources=["a.csv", "b.csv"])
    project = ProjectConfig(name="mouse", keypoints=["nose", *mouse_members[0].keypoints])
    with pytest.raises(LabelFormatError, match=r"b.csv do not match the project: missing \['nose'\]"):
        suggest_frames(mouse_members[:1], project, 5, sources=["b.csv"])


PAWS = ["paw1LH", "paw2LF", "paw3RF", "paw4RH"]


@pytest.fixture(scope="module")
def camera_paws(tmp_path_factory) -> ProjectConfig:
    """The two-camera toy project (views top and bottom) with the paws alone, as the ensemble has."""
    path = make_camera_project(tmp_path_factory.mktemp("cameras"), video_frames=2)
    for view in CAMERA_VIEWS:
        labels = path.parent / f"CollectedData_{view}.csv"
        write_pose_csv(read_labels(labels).select_keypoints(PAWS), labels)
    config = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**config, "keypoints": PAWS, "skeleton": []}))
    return load_project(path)


def session_members(members: list[PoseTable]) -> list[list[PoseTable]]:
    """The mirror-mouse ensemble's two mirrored views as two cameras' predictions, paws named alike."""
    views = []
    for suffix in ("_top", "_bot"):
        tables = [t.select_keypoints([paw + suffix for paw in PAWS]) for t in members]
        views.append([PoseTable(PAWS, t.index, t.values.copy(), t.fields, t.scorer) for t in tables])
    return views


def test_a_body_part_misplaced_in_one_camera_is_found_across_the_views(mouse_members, camera_paws):
    """A paw 40 px off in the top camera only, in every member alike, from frame 800 to 829: the
    members agree and, inside the span, it does not jump; the other camera says it is wrong."""
    views = session_members(mouse_members)
    for table in views[0]:
        table.values[800:830, PAWS.index("paw2LF"), 0] += 40.0
    outside = set(range(2000)) - set(range(700, 900))  # as if labeled already: picks from 700-899
    table = suggest_session_frames(views, camera_paws, 3, exclude=outside, sources=["a", "b", "c", "d", "e"])
    assert "pca_multiview_error_max" in table and "pca_error" in table.attrs["skipped_metrics"]
    planted = table[(table["frame"] >= 800) & (table["frame"] < 830)].set_index("frame")
    assert len(planted) == 2, table
    for frame, pick in planted.iterrows():
        assert "paw2LF_top" in pick["flagged_keypoints"].split(";"), frame
        assert "multi-view PCA error" in pick["reasons"].split(";") and pick["pca_multiview_error_max"] > 15
    clean = suggest_session_frames(session_members(mouse_members), camera_paws, 3, exclude=outside)
    assert not ((clean["frame"] >= 800) & (clean["frame"] < 830)).any()  # the planted paw made the picks


def test_a_session_needs_every_view(mouse_members, camera_paws):
    with pytest.raises(PoseCloudError, match="has 2 views .top, bottom., got predictions of 1"):
        suggest_session_frames(session_members(mouse_members)[:1], camera_paws, 3)
