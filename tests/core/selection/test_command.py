import argparse
from pathlib import Path

import pandas as pd
import pytest

from core.errors import ConfigError, LabelFormatError, PoseCloudError
from core.labels.dlc_csv import write_pose_csv
from core.labels.table import PoseTable
from core.selection.command import register
from tests.core.selection.mouse import DISAGREE_FRAME


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="posecloud")
    register(parser.add_subparsers())
    args = parser.parse_args(["suggest-frames", *argv])
    return args.run(args)


def write_members(members: list[PoseTable], folder: Path, frames: int | None = None) -> list[str]:
    paths = []
    for i, table in enumerate(members):
        rows = slice(None, frames)
        part = PoseTable(table.keypoints, table.index[rows], table.values[rows], table.fields, table.scorer)
        paths.append(str(write_pose_csv(part, folder / f"member{i}.csv")))
    return paths


def test_suggests_planted_frames_into_a_csv(planted_members, tmp_path: Path, capsys):
    members = write_members(planted_members, tmp_path)
    project = tmp_path / "project.yaml"
    project.write_text(f"name: mouse\nkeypoints: {planted_members[0].keypoints}\n")
    out = tmp_path / "out" / "frames.csv"
    assert cli([*members, "-n", "20", "-o", str(out), "--project", str(project)]) == 0
    table = pd.read_csv(out)
    assert len(table) == 20 and table["frame"].is_monotonic_increasing
    assert DISAGREE_FRAME in set(table["frame"])
    printed = capsys.readouterr().out
    assert "note: pca_error not used" in printed and "CollectedData.csv does not exist yet" in printed
    assert f"{out}: 20 frames" in printed
    assert printed.splitlines()[-1].startswith("next: posecloud suggest-frames ") and "--extract" in printed


def test_extracts_the_picks_from_the_video(mouse_members, toy_clip: Path, tmp_path: Path, capsys):
    members = write_members(mouse_members, tmp_path, frames=40)
    dest = tmp_path / "project"
    out = tmp_path / "frames.csv"
    assert cli([*members, "-n", "2", "-o", str(out), "--video", str(toy_clip), "--extract", str(dest)]) == 0
    picks = pd.read_csv(out)["frame"].tolist()
    assert len(picks) == 2 and picks[1] - picks[0] >= 10
    images = sorted((dest / "labeled-data" / "clip").glob("img*.png"))
    assert {f"img{f:08d}.png" for f in picks} <= {p.name for p in images}
    assert 6 <= len(images) <= 10  # each pick with up to 2 context frames each side
    printed = capsys.readouterr().out
    assert f"{len(images)} images" in printed
    assert printed.splitlines()[-1] == (
        f"next: label the frames in {dest / 'labeled-data' / 'clip'} (rows of the project's label file), "
        "then posecloud train PROJECT"
    )


def test_extracts_the_same_frames_from_every_camera_view(mouse_members, toy_clip: Path, tmp_path: Path):
    """Separate cameras: the picks (from one view's predictions) come out of each view's video alike,
    into folders whose names hold the view, so the views' label rows line up."""
    videos = [tmp_path / f"session1_{view}.mp4" for view in ("top", "side")]
    for video in videos:
        video.symlink_to(toy_clip)
    members = write_members(mouse_members, tmp_path, frames=40)
    dest = tmp_path / "project"
    out = str(tmp_path / "frames.csv")
    assert cli([*members, "-n", "2", "-o", out, "--video", *map(str, videos), "--extract", str(dest)]) == 0
    top, side = (sorted(p.name for p in (dest / "labeled-data" / v.stem).glob("*.png")) for v in videos)
    assert top == side and len(top) >= 6


def test_one_member_is_enough(mouse_members, tmp_path: Path):
    out = tmp_path / "frames.csv"
    assert cli([write_members(mouse_members[:1], tmp_path)[0], "-n", "3", "-o", str(out)]) == 0
    assert "ensemble_std_max" not in pd.read_csv(out).columns


def test_bad_arguments_are_clear_errors(mouse_members, toy_clip: Path, tmp_path: Path):
    members = write_members(mouse_members, tmp_path)
    out = str(tmp_path / "frames.csv")
    with pytest.raises(PoseCloudError, match="at least 1, got 0"):
        cli([*members, "-n", "0", "-o", out])
    with pytest.raises(PoseCloudError, match="only 2000"):
        cli([*members, "-n", "5000", "-o", out])
    with pytest.raises(ConfigError, match="--video and --extract go together"):
        cli([*members, "-o", out, "--video", str(toy_clip)])
    (tmp_path / "short").mkdir()
    short = write_members(mouse_members[:1], tmp_path / "short", frames=100)
    with pytest.raises(LabelFormatError, match="has 100 frames but .*member0.csv has 2000"):
        cli([members[0], *short, "-o", out])
    with pytest.raises(PoseCloudError, match=r"outside clip.mp4"):
        cli([*members, "-n", "3", "-o", out, "--video", str(toy_clip), "--extract", str(tmp_path / "p")])
    assert len(pd.read_csv(out)) == 3  # the list is written before the video is read
