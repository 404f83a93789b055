"""The prediction pipeline the CLI and the worker share: the files a model and an ensemble write, its
progress reports, a progress callback that stops it, and warnings only for what a project set up."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from core.labels.dlc_csv import read_pose_csv, write_pose_csv
from core.predict.pipeline import predict_session, predict_with_ensemble_session, smooth_session
from core.smoothing.io import SMOOTHED_FIELDS, read_smoothed
from core.smoothing.robust import ROUNDS
from core.smoothing.synthetic import simulate_ensemble
from core.video.reader import probe_video

METRICS = ("temporal_norm", "pca_singleview_error", "pca_multiview_error")
PASSES = ROUNDS + 1  # the single-camera smoother's passes over the frames


class Stop(Exception):
    """What a cancelled job's progress callback raises."""


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def stop_at(report_number: int, reports: list[dict]):
    """A progress callback recording its reports and raising at the ``report_number``-th."""

    def progress(report: dict) -> None:
        reports.append(report)
        if len(reports) == report_number:
            raise Stop

    return progress


def test_a_model_writes_its_predictions_labeled_video_and_metrics(tiny_model, toy_clip, tmp_path):
    reports: list[dict] = []
    csvs = predict_session(
        tiny_model, [toy_clip], tmp_path, batch_size=16, labeled_video=True, progress=reports.append
    )
    assert csvs == [tmp_path / "clip.csv"]
    assert files(tmp_path) == {"clip.csv", "clip.labeled.mp4", *(f"clip.{m}.csv" for m in METRICS)}
    assert read_pose_csv(csvs[0]).values.shape == (40, 17, 3)
    assert probe_video(tmp_path / "clip.labeled.mp4").frame_count == 40
    assert [(r["frames"], r["total_frames"]) for r in reports] == [(16, 40), (32, 40), (40, 40), (40, 40)]
    assert {r["video"] for r in reports} == {"clip.mp4"}


def test_the_final_report_counts_the_frames_decoded_not_those_listed(
    tiny_model, toy_clip, tmp_path, monkeypatch
):
    """A container that lists 45 frames but holds 40: the last report says 40 of 40."""
    listed = dataclasses.replace(probe_video(toy_clip), frame_count=45)
    monkeypatch.setattr("core.predict.video.probe_video", lambda video: listed)
    reports: list[dict] = []
    predict_session(tiny_model, [toy_clip], tmp_path, progress=reports.append)
    assert reports[-2:] == [
        {"video": "clip.mp4", "frames": 40, "total_frames": 45},
        {"video": "clip.mp4", "frames": 40, "total_frames": 40},
    ]


def test_an_ensemble_writes_each_members_files_and_the_eks(ensemble_dir, toy_clip, tmp_path):
    members = [ensemble_dir / "seed1", ensemble_dir / "seed2"]
    reports: list[dict] = []
    eks = predict_with_ensemble_session(members, [toy_clip], tmp_path, progress=reports.append)
    assert eks == [tmp_path / "clip.eks.csv"]
    one_model = ["clip.csv", *(f"clip.{m}.csv" for m in METRICS)]
    assert files(tmp_path) == {
        *(f"{member}/{name}" for member in ("seed1", "seed2") for name in one_model),
        *(name.replace("clip.", "clip.eks.") for name in one_model),
        "clip.eks.variances.csv",
    }
    smoothed = read_smoothed(eks[0])
    assert smoothed.fields == SMOOTHED_FIELDS and smoothed.values.shape == (40, 17, len(SMOOTHED_FIELDS))
    median = np.median([read_pose_csv(tmp_path / m / "clip.csv").xy for m in ("seed1", "seed2")], axis=0)
    np.testing.assert_allclose(smoothed.values[..., 3:5], median, atol=1e-6)
    assert [r for r in reports if "video" in r][-1] == {
        "video": "clip.mp4",
        "frames": 40,
        "total_frames": 40,
        "model": "seed2",
    }
    assert_smoothing_reports([r for r in reports if "step" in r], 17)


def test_a_progress_callback_that_raises_stops_the_prediction(tiny_model, toy_clip, tmp_path):
    threads = threading.active_count()
    reports: list[dict] = []
    with pytest.raises(Stop):
        predict_session(tiny_model, [toy_clip], tmp_path / "out", batch_size=8, progress=stop_at(1, reports))
    assert reports == [{"video": "clip.mp4", "frames": 8, "total_frames": 40}]
    assert not (tmp_path / "out").exists()
    assert threading.active_count() == threads  # the decoding thread stopped too


def test_the_eks_is_drawn_on_the_video_when_asked(tiny_model, toy_clip, tmp_path):
    smooth_session(
        synthetic_members(tmp_path, views=1, frames=40),
        tmp_path / "out",
        s=None,
        metrics_model_dir=tiny_model,
        labeled_videos=[toy_clip],
    )
    drawn = tmp_path / "out" / "clip.labeled.mp4"
    assert probe_video(drawn).frame_count == 40
    data = drawn.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: a browser plays it while it loads


def assert_smoothing_reports(reports: list[dict], keypoints: int) -> None:
    """The smoother's reports: after each of its passes over a batch of keypoints' frames, then at
    the batch's end, counting up to every keypoint."""
    assert {(r["step"], r["keypoints"]) for r in reports} == {("smoothing", keypoints)}
    done = [r["keypoints_done"] for r in reports]
    batches = sum(later > earlier for earlier, later in zip([0, *done], done, strict=False))
    assert done == sorted(done) and done[-1] == keypoints and len(done) == batches * (PASSES + 1)


def synthetic_members(folder: Path, views: int, frames: int = 200) -> list[list[Path]]:
    """``[view][member]`` CSVs of 3 synthetic members per view, 17 keypoints (``kp0`` ...)."""
    member_csvs = []
    for view in range(views):
        _, members = simulate_ensemble(n_members=3, n_frames=frames, seed=view)
        member_csvs.append(
            [
                write_pose_csv(table, folder / f"m{m}" / f"session_v{view}.csv")
                for m, table in enumerate(members)
            ]
        )
    return member_csvs


@pytest.mark.parametrize("views", [1, 2])
def test_a_progress_callback_that_raises_stops_the_smoothing(tiny_model, tmp_path, views):
    """One view or two (the multi-camera EKS): within the first passes over the frames, which serve
    every keypoint at once."""
    member_csvs = synthetic_members(tmp_path, views)
    reports: list[dict] = []
    with pytest.raises(Stop):
        smooth_session(
            member_csvs, tmp_path / "out", s=None, metrics_model_dir=tiny_model, progress=stop_at(3, reports)
        )
    assert reports == [{"step": "smoothing", "keypoints_done": 0, "keypoints": 17}] * 3
    assert not (tmp_path / "out").exists()


def test_a_single_view_project_is_not_warned_about_a_multiview_error(tiny_model, toy_clip, tmp_path, caplog):
    """The toy project matches its mirror's views; the same model without view_matches has one view."""
    single_view = tmp_path / "single-view"
    shutil.copytree(tiny_model, single_view)
    config = yaml.safe_load((single_view / "config.yaml").read_text())
    config["project"]["view_matches"] = []
    (single_view / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    with caplog.at_level(logging.WARNING):
        predict_session(single_view, [toy_clip], tmp_path / "out")
    assert files(tmp_path / "out") == {"clip.csv", "clip.temporal_norm.csv", "clip.pca_singleview_error.csv"}
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_views_smoothed_each_on_its_own_report_all_their_keypoints(tiny_model, tmp_path):
    """8 frames are too few to fit the views' common subspace: each view is smoothed on its own."""
    reports: list[dict] = []
    eks = smooth_session(
        synthetic_members(tmp_path, views=2, frames=8),
        tmp_path / "out",
        s=None,
        metrics_model_dir=tiny_model,
        progress=reports.append,
    )
    assert eks == [tmp_path / "out" / "session_v0.eks.csv", tmp_path / "out" / "session_v1.eks.csv"]
    assert_smoothing_reports(reports, 34)
    assert {"step": "smoothing", "keypoints_done": 17, "keypoints": 34} in reports  # the first view's end
