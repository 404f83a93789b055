"""Label quality control on the real labels in ../shared/data: planted errors are found, the labels
as given are mostly left alone, and each kind of problem is reported as that kind."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchmarks.planted_labels import Dataset, Totals, mirror_mouse, plant_errors, reaching, score, totals
from core.config import ProjectConfig
from core.labels.dlc_csv import write_pose_csv
from core.labels.table import PoseTable
from core.plausibility.flip_pairs import mirror_pairs, project_flip_pairs
from core.plausibility.label_qc import FrameQC, LabelQC, image_sizes, label_qc
from core.plausibility.qc_command import register

SEEDS = range(5)


@pytest.fixture(scope="module")
def mouse() -> Dataset:
    return mirror_mouse()


@pytest.fixture(scope="module")
def reach() -> Dataset:
    return reaching()


def with_xy(labels: PoseTable, xy: np.ndarray) -> PoseTable:
    """``labels`` with the coordinates ``xy`` ``(frames, K, 2)``."""
    return PoseTable(labels.keypoints, list(labels.index), xy, labels.fields, labels.scorer)


def frame_of(labels: PoseTable, name: str, qc: LabelQC) -> FrameQC:
    return qc.frames[labels.index.index(name)]


def planted_totals(dataset: Dataset) -> Totals:
    """QC's flags against planted errors (one flip pair swapped) summed over ``SEEDS``."""
    sizes = image_sizes(dataset.project.data_dir, dataset.labels.index)
    scores = []
    for seed in SEEDS:
        planted = plant_errors(dataset.labels, project_flip_pairs(dataset.project), seed)
        scores.append(score(label_qc(planted.labels, dataset.project, sizes), planted))
    return totals(scores)


def test_planted_swaps_and_moves_are_found_on_the_mirror_mouse(mouse):
    """5 % of the frames with a left/right paw pair swapped, 5 % with a keypoint moved 15-40 px.
    Measured on seeds 0-4: every swap found and named a swap, 14 of 20 moves, precision 0.56 (the
    labels' own errors count as false: two frames with two paws at one point, unusual poses)."""
    total = planted_totals(mouse)
    assert total.recall("swap") >= 0.95 and total.named >= 0.95 * total.planted["swap"]
    assert total.recall("move") >= 0.6
    assert total.recall() >= 0.8
    assert total.precision >= 0.5


def test_planted_moves_are_found_on_the_reaching_labels(reach):
    """No left/right pair there (hand, finger, tongue, joystick): moves only. Measured on seeds
    0-4: 5 of 15 moves found, 5 of 7 flags right; a tongue (labeled in 15 of 55 frames) is checked
    by nothing."""
    assert project_flip_pairs(reach.project) == []
    total = planted_totals(reach)
    assert total.planted["swap"] == 0
    assert total.recall() >= 0.25
    assert total.precision >= 0.6


@pytest.mark.xfail(
    strict=True,
    reason="goal not met: recall 0.85, precision 0.56 (seeds 0-4); see benchmarks/label_qc.py, BENCHMARKS.md",
)
def test_the_goal_recall_0_9_at_precision_0_8_on_the_mirror_mouse(mouse):
    total = planted_totals(mouse)
    assert total.recall() >= 0.9 and total.precision >= 0.8


def test_labels_as_given_flag_few_frames_and_their_real_errors(mouse, reach):
    sizes = image_sizes(mouse.project.data_dir, mouse.labels.index)
    qc = label_qc(mouse.labels, mouse.project, sizes)
    flagged = [frame for frame in qc.frames if frame.flagged]
    assert len(flagged) <= 8  # of 90: 7 measured, most unusual poses (a tail curled up)
    # two frames have the right front and hind paws clicked at one point in the side view
    for name in ("labeled-data/img87.png", "labeled-data/img88.png"):
        (reason,) = frame_of(mouse.labels, name, qc).reasons
        assert reason.kind == "duplicate" and set(reason.keypoints) == {"paw3RF_top", "paw4RH_top"}
    assert [frame.frame for frame in qc.for_review()[:2]] == [
        "labeled-data/img88.png",
        "labeled-data/img87.png",
    ]
    assert not any(frame.flagged for frame in label_qc(reach.labels, reach.project).frames)


def test_a_swap_is_reported_as_a_swap_and_explains_its_keypoints(mouse):
    names = mouse.labels.keypoints
    a, b = names.index("paw2LF_bot"), names.index("paw3RF_bot")
    xy = mouse.labels.xy.copy()
    frame = int(np.flatnonzero(np.linalg.norm(xy[:, a] - xy[:, b], axis=-1) > 40)[0])
    xy[frame, [a, b]] = xy[frame, [b, a]]
    result = frame_of(
        mouse.labels, mouse.labels.index[frame], label_qc(with_xy(mouse.labels, xy), mouse.project)
    )
    assert result.reasons[0].kind == "swap" and result.reasons[0].keypoints == ("paw2LF_bot", "paw3RF_bot")
    assert "likely swapped" in result.reasons[0].detail
    assert not any(
        r.kind == "pose" and set(r.keypoints) & {"paw2LF_bot", "paw3RF_bot"} for r in result.reasons
    )
    assert result.score == result.reasons[0].z >= 5


def test_left_and_right_swapped_throughout_a_frame_is_one_swap(mouse):
    xy = mouse.labels.xy.copy()
    pairs = [
        (mouse.labels.keypoints.index(p), mouse.labels.keypoints.index(q))
        for p, q in mouse.project.flip_pairs
    ]
    frame = 10
    for a, b in pairs:
        xy[frame, [a, b]] = xy[frame, [b, a]]
    result = label_qc(with_xy(mouse.labels, xy), mouse.project).frames[frame]
    swaps = [r for r in result.reasons if r.kind == "swap"]
    assert len(swaps) == 1 and len(swaps[0].keypoints) == 8
    assert swaps[0].detail.startswith("left and right (")


def test_a_moved_keypoint_is_reported_with_its_distance(mouse):
    xy = mouse.labels.xy.copy()
    nose = mouse.labels.keypoints.index("nose_top")  # head-fixed: it hardly moves
    xy[5, nose] += [-18.0, 24.0]  # 30 px
    result = label_qc(with_xy(mouse.labels, xy), mouse.project).frames[5]
    (reason,) = [r for r in result.reasons if r.keypoints == ("nose_top",)]
    assert reason.kind == "pose"
    distance = float(reason.detail.split(" px ")[0].split()[-1])
    assert 25 <= distance <= 35
    assert "from where the other keypoints put it" in reason.detail


def test_keypoints_outside_the_frame_and_duplicates_are_reported(mouse):
    sizes = image_sizes(mouse.project.data_dir, mouse.labels.index)
    width, height = sizes[mouse.labels.index[0]]
    assert (width, height) == (396, 406)
    names = mouse.labels.keypoints
    xy = mouse.labels.xy.copy()
    xy[0, names.index("nose_top")] = [width + 12.0, 20.0]
    xy[1, names.index("nose_bot")] = [-3.0, 280.0]
    xy[2, names.index("tailMid_bot")] = xy[2, names.index("tailBase_bot")] + 0.5
    labels = with_xy(mouse.labels, xy)
    qc = label_qc(labels, mouse.project, sizes)
    outside = qc.frames[0].reasons[0]
    assert outside.kind == "outside" and outside.z is None and "outside the 396x406 frame" in outside.detail
    assert qc.frames[1].reasons[0].kind == "outside"
    duplicate = qc.frames[2].reasons[0]
    assert duplicate.kind == "duplicate" and duplicate.keypoints == ("tailBase_bot", "tailMid_bot")
    assert "at the same point (0.7 px apart" in duplicate.detail
    unsized = label_qc(labels, mouse.project).frames
    assert [r.kind for r in unsized[0].reasons if r.z is None] == []  # past the frame, not negative: unknown
    assert "negative coordinate" in unsized[1].reasons[0].detail


def test_missing_keypoints_do_not_crash_or_flag(mouse):
    xy = mouse.labels.xy.copy()
    rng = np.random.default_rng(0)
    xy[rng.random(xy.shape[:2]) < 0.15] = np.nan
    xy[3] = np.nan  # a row with nothing labeled
    qc = label_qc(with_xy(mouse.labels, xy), mouse.project)
    assert len(qc.frames) == len(xy) and qc.frames[3].score == 0 and not qc.frames[3].flagged
    assert all(np.isfinite(frame.score) for frame in qc.frames)
    assert sum(frame.flagged for frame in qc.frames) <= 12


def triangle_labels(frames: int = 40, seed: int = 0) -> PoseTable:
    """Three keypoints ``a``, ``b``, ``c`` of a jittered rigid triangle (edges about 50 px) moving
    about the image; ``frames`` rows."""
    rng = np.random.default_rng(seed)
    shape = np.array([[0.0, 0.0], [50.0, 0.0], [0.0, 50.0]])
    xy = shape + rng.uniform(100, 300, size=(frames, 1, 2)) + rng.normal(0, 1.0, size=(frames, 3, 2))
    return PoseTable(["a", "b", "c"], [f"labeled-data/v/img{i:03d}.png" for i in range(frames)], xy)


def test_edges_and_angles_flag_keypoints_the_pose_model_leaves_out():
    """``c`` is outside pca_keypoints and alone, so no pose model checks it: its edge and angle do."""
    labels = triangle_labels()
    project = ProjectConfig(
        name="triangle",
        keypoints=["a", "b", "c"],
        skeleton=[("a", "b"), ("a", "c")],
        pca_keypoints=["a", "b"],
    )
    xy = labels.xy.copy()
    xy[7, 2] = xy[7, 0] + [0.0, 100.0]  # a–c twice as long
    xy[9, 2] = xy[9, 0] + [-43.0, 25.0]  # the angle b–a–c from 90° to 150°
    qc = label_qc(with_xy(labels, xy), project)
    (edge,) = [r for r in qc.frames[7].reasons if r.kind == "edge"]
    assert edge.keypoints == ("a", "c") and "2.0x its usual length" in edge.detail
    (angle,) = [r for r in qc.frames[9].reasons if r.kind == "angle"]
    assert angle.keypoints == ("b", "a", "c") and "b–a–c 150° (usually 9" in angle.detail
    assert sum(frame.flagged for frame in qc.frames) == 2
    assert any("['c'] not compared" in note for note in qc.notes)


def test_too_few_complete_frames_skip_the_pose_checks_with_a_note():
    labels = triangle_labels(frames=8)
    project = ProjectConfig(name="triangle", keypoints=["a", "b", "c"])
    qc = label_qc(labels, project)
    assert len(qc.frames) == 8 and not any(frame.flagged for frame in qc.frames)
    assert any("pose and swap checks of ['a', 'b', 'c'] skipped: they need 10 frames" in n for n in qc.notes)


def test_mirror_pairs_are_read_from_side_words_in_names():
    names = [
        "nose",
        "paw_l",
        "paw_r",
        "LeftEar",
        "RightEar",
        "L_eye",
        "R_eye",
        "earL",
        "earR",
        "paw1LH",
        "paw4RH",
    ]
    assert mirror_pairs(names) == [
        ("paw_l", "paw_r"),
        ("LeftEar", "RightEar"),
        ("L_eye", "R_eye"),
        ("earL", "earR"),
    ]
    assert mirror_pairs(["lamp", "ramp", "left", "right"]) == [("left", "right")]
    project = ProjectConfig(name="p", keypoints=["paw_l", "paw_r", "hip_left", "hip_right"])
    assert project_flip_pairs(project) == [("paw_l", "paw_r"), ("hip_left", "hip_right")]
    declared = project.model_copy(update={"flip_pairs": [("paw_l", "hip_right")]})
    assert project_flip_pairs(declared) == [("paw_l", "hip_right")]


def test_qc_command_lists_flagged_frames_worst_first(tmp_path: Path, mouse, capsys):
    xy = mouse.labels.xy.copy()
    names = mouse.labels.keypoints
    xy[4, names.index("nose_top")] -= [30.0, 0.0]
    xy[6, names.index("tailMid_top")] = [-8.0, 40.0]
    write_pose_csv(with_xy(mouse.labels, xy), tmp_path / "CollectedData.csv")
    # the images where they are; the labels (an absolute labels_file) here
    project = mouse.project.model_dump(mode="json") | {"labels_file": str(tmp_path / "CollectedData.csv")}
    (tmp_path / "project.yaml").write_text(yaml.safe_dump(project))
    parser = argparse.ArgumentParser(prog="posecloud")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["qc", str(tmp_path)])
    assert args.run(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{mouse.labels.index[6]}  score ") and "outside the 396x406 frame" in lines[0]
    (moved,) = [line for line in lines if line.startswith(f"{mouse.labels.index[4]}  score ")]
    assert re.search(
        r"  nose_top (2[5-9]|3[0-5]) px from where the other keypoints put it \(z [\d.]+\)$", moved
    )
    assert re.fullmatch(r".*CollectedData.csv: (9|10) of 90 labeled frames flagged \(.*\)", lines[-2])
    assert "duplicate 2" in lines[-2] and "outside 1" in lines[-2]
    assert lines[-1].startswith("next: review these frames")
