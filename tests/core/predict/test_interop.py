"""Other tools read what posecloud predicts: movement loads the prediction and EKS CSVs and the NWB
files with the coordinates and confidences posecloud's readers give; ``--format`` and ``export``
write NWB files with the provenance; ``predict`` reports its progress in a log and on a terminal
and ends with what to run next."""

from __future__ import annotations

import sys

import numpy as np
import yaml
from movement.io import load_poses
from pynwb import NWBHDF5IO

import core.progress
from core.cli import main
from core.config import load_project
from core.labels.dlc_csv import read_pose_csv
from core.labels.nwb import read_nwb_poses
from core.labels.table import PREDICTION_FIELDS
from core.predict.ensemble import smooth_session
from core.smoothing.io import VARIANCE_FIELDS, read_smoothed, variances_path
from tests.core.test_progress import terminal
from tests.testdata import EXAMPLE_PROJECT


def movement_values(ds, keypoints: list[str]) -> np.ndarray:
    """``(frames, keypoints, 3)``: x, y, confidence of a movement dataset, in ``keypoints`` order."""
    ds = ds.sel(keypoints=keypoints)
    xy = ds.position.transpose("time", "keypoints", "space", "individuals").values[..., 0]
    confidence = ds.confidence.transpose("time", "keypoints", "individuals").values[..., 0]
    return np.concatenate([xy, confidence[..., None]], axis=-1)


def test_movement_reads_the_members_and_the_eks_as_posecloud_does(ensemble_dir, toy_clip, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["predict", str(ensemble_dir), str(toy_clip), "-o", str(out), "--format", "both"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert f"{out / 'clip.eks.csv'}, {out / 'clip.eks.nwb'}: EKS" in printed
    assert "  variances: clip.eks.variances.csv" in printed
    assert printed[-1] == (
        f"next: posecloud suggest-frames {out / 'seed1' / 'clip.csv'} {out / 'seed2' / 'clip.csv'} -n 20 "
        f"-o {out / 'frames.csv'} --video {toy_clip} --extract PROJECT_DIR"
    )
    keypoints = load_project(EXAMPLE_PROJECT).keypoints
    members = {name: read_pose_csv(out / name / "clip.csv") for name in ("seed1", "seed2")}
    for csv in [out / "seed1" / "clip.csv", out / "seed2" / "clip.csv", out / "clip.eks.csv"]:
        ours = read_pose_csv(csv)
        assert ours.fields == PREDICTION_FIELDS and ours.keypoints == keypoints
        ds = load_poses.from_dlc_file(csv, fps=250)
        np.testing.assert_array_equal(movement_values(ds, keypoints), ours.values)
        np.testing.assert_allclose(ds.time.values, np.arange(40) / 250)
        # the NWB file beside it: the same poses (float32, as ndx-pose stores them)
        nwb = read_nwb_poses(csv.with_suffix(".nwb"))
        np.testing.assert_array_equal(nwb.table.values, ours.values.astype(np.float32))
        np.testing.assert_array_equal(
            movement_values(load_poses.from_nwb_file(csv.with_suffix(".nwb")), keypoints), nwb.table.values
        )

    # the EKS with its variances is the smoother's output for these members
    (expected,) = smooth_session([members])
    np.testing.assert_array_equal(read_smoothed(out / "clip.eks.csv").values, expected.values)
    variances = read_pose_csv(variances_path(out / "clip.eks.csv"), required=VARIANCE_FIELDS)
    assert variances.fields == VARIANCE_FIELDS and (variances.field("x_posterior_var") > 0).all()

    with NWBHDF5IO(str(out / "clip.eks.nwb"), "r", load_namespaces=True) as io:
        estimation = io.read().processing["behavior"]["PoseEstimation"]
        assert estimation.scorer == "ensemble"  # the ensemble folder
        settings = yaml.safe_load(estimation.description.split("\n", 1)[1])
        assert list(settings["members"]) == ["seed1", "seed2"]
        assert settings["members"]["seed1"]["train"]["seed"] == 1
        assert settings["smoothing"].startswith("s fitted per keypoint")
        project = load_project(EXAMPLE_PROJECT)
        assert estimation.skeleton.edges[:].tolist() == [list(e) for e in project.skeleton_indices]
        assert estimation.source_video.rate == 250.0
    with NWBHDF5IO(str(out / "seed1" / "clip.nwb"), "r", load_namespaces=True) as io:
        estimation = io.read().processing["behavior"]["PoseEstimation"]
        assert estimation.scorer == "seed1"
        assert yaml.safe_load(estimation.description.split("\n", 1)[1])["train"]["seed"] == 1


def test_nwb_only_keeps_no_trajectory_csv(tiny_model, toy_clip, tmp_path):
    assert main(["predict", str(tiny_model), str(toy_clip), "-o", str(tmp_path), "--format", "nwb"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "clip.nwb",
        "clip.pca_multiview_error.csv",
        "clip.pca_singleview_error.csv",
        "clip.temporal_norm.csv",
    ]


def test_export_to_nwb_and_back(tiny_model, toy_clip, tmp_path, capsys):
    predictions = tmp_path / "clip.csv"
    assert main(["predict", str(tiny_model), str(toy_clip), "-o", str(tmp_path)]) == 0
    ours = read_pose_csv(predictions)
    nwb = tmp_path / "exported.nwb"
    argv = [
        "export",
        str(predictions),
        "--format",
        "nwb",
        "--video",
        str(toy_clip),
        "--model",
        str(tiny_model),
    ]
    assert main([*argv, "-o", str(nwb)]) == 0
    assert f"{nwb}: NWB pose file" in capsys.readouterr().out
    poses = read_nwb_poses(nwb)
    assert poses.skeleton == load_project(EXAMPLE_PROJECT).skeleton and poses.table.scorer == "tiny"
    np.testing.assert_array_equal(poses.table.values, ours.values.astype(np.float32))
    assert main(["export", str(nwb), "--format", "csv", "-o", str(tmp_path / "back.csv")]) == 0
    back = read_pose_csv(tmp_path / "back.csv")
    assert back.keypoints == ours.keypoints and back.index == ours.index
    np.testing.assert_array_equal(back.values, ours.values.astype(np.float32))

    # without a model: the CSV's scorer, no skeleton
    assert main(["export", str(predictions), "--format", "nwb", "--video", str(toy_clip)]) == 0
    plain = read_nwb_poses(tmp_path / "clip.nwb")
    assert plain.skeleton == [] and plain.table.scorer == "tiny"
    assert main(["export", str(predictions), "--format", "nwb"]) == 2
    assert "pass it with --video VIDEO" in capsys.readouterr().err


def test_predict_reports_progress_in_a_log(tiny_model, toy_clip, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(core.progress, "LOG_MIN_GAP_S", 0.0)  # a line at every tenth of a short clip
    assert main(["predict", str(tiny_model), str(toy_clip), "-o", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[0].startswith("clip.mp4: 32/40 frames (80%), ") and " frames/s, ETA " in lines[0]
    assert lines[-1].startswith("clip.mp4: 40/40 frames (100%), ") and ", done in " in lines[-1]
    assert len(lines) == 2  # batches of 16 frames: 16 starts the clock, 32 and 40 cross a tenth
    assert captured.out.splitlines()[-1].startswith(
        f"next: posecloud suggest-frames {tmp_path / 'clip.csv'} "
    )


def test_predict_draws_a_bar_on_a_terminal(tiny_model, toy_clip, tmp_path, capsys, monkeypatch):
    with terminal() as (stream, received):
        monkeypatch.setattr(sys, "stderr", stream)
        assert main(["predict", str(tiny_model), str(toy_clip), "-o", str(tmp_path)]) == 0
        stream.flush()
        monkeypatch.undo()
    shown = b"".join(received).decode()
    assert "clip.mp4" in shown and "━" in shown and "40/40" in shown
    assert "frames/s" in shown and "ETA" in shown
    assert capsys.readouterr().out.splitlines()[-1].startswith("next: posecloud suggest-frames ")
