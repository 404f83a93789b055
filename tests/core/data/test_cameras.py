"""Separate cameras: the project settings, which view a file belongs to, and synchronized sessions."""

from pathlib import Path

import pytest

from core.config import ProjectConfig, parse_config
from core.data.cameras import check_rows_aligned, group_videos, session_of, views_in
from core.errors import ConfigError, LabelFormatError, VideoError

VIEWS = ["top", "side"]


def test_a_view_is_a_word_of_the_file_name():
    assert views_in("mouse3_top", VIEWS) == ["top"]
    assert views_in("labeled-data/mouse3-side/img001.png", VIEWS) == ["side"]
    assert views_in("topdown_run", VIEWS) == [] and views_in("top_side", VIEWS) == ["top", "side"]
    assert session_of("mouse3_top", "top") == session_of("mouse3_side", "side") == "mouse3_{view}"


def test_videos_group_into_sessions_in_view_order():
    videos = [Path(f"{name}.mp4") for name in ("b_side", "a_top", "b_top", "a_side")]
    assert group_videos(videos, VIEWS) == [
        [Path("a_top.mp4"), Path("a_side.mp4")],
        [Path("b_top.mp4"), Path("b_side.mp4")],
    ]
    assert group_videos(videos, ["main"]) == [[v] for v in videos]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (
            ["a_top.mp4", "a_front.mp4"],
            r"a_front.mp4: the file name holds none of the project's views \(top, side\)",
        ),
        (["a_top_side.mp4"], "holds several of the project's views"),
        (
            ["a_top.mp4", "a_side.mp4", "a_top.avi"],
            "a_top.mp4 and a_top.avi are both the top view of one session",
        ),
        (["a_top.mp4", "a_side.mp4", "b_top.mp4"], r"session 'b_\{view\}' has no video for view\(s\) side"),
    ],
)
def test_videos_that_make_no_whole_sessions_are_named(names, message):
    with pytest.raises(VideoError, match=message):
        group_videos([Path(n) for n in names], VIEWS)


def test_label_files_of_the_views_must_be_aligned_row_by_row():
    paths = [Path("CollectedData_top.csv"), Path("CollectedData_side.csv")]
    top = ["labeled-data/m1_top/img1.png", "labeled-data/m1_top/img2.png"]
    side = ["labeled-data/m1_side/img1.png", "labeled-data/m1_side/img2.png"]
    check_rows_aligned([top, side], VIEWS, paths)
    check_rows_aligned([["x/1.png"], ["y/1.png"]], VIEWS, paths)  # no view word: trusted by position
    with pytest.raises(LabelFormatError, match="different numbers of rows .*CollectedData_side.csv: 1"):
        check_rows_aligned([top, side[:1]], VIEWS, paths)
    with pytest.raises(LabelFormatError, match="row 0 .* names different frames"):
        check_rows_aligned([top, side[::-1]], VIEWS, paths)


CAMERAS = {"name": "p", "keypoints": ["nose", "tail"], "views": VIEWS, "labels_file": "labels_{view}.csv"}


def test_a_camera_project_has_one_label_file_per_view():
    project = parse_config(ProjectConfig, CAMERAS, "project.yaml")
    assert project.separate_cameras
    assert [p.name for p in project.labels_paths] == ["labels_top.csv", "labels_side.csv"]
    single = parse_config(ProjectConfig, {"name": "p", "keypoints": ["nose"]}, "project.yaml")
    assert not single.separate_cameras and [p.name for p in single.labels_paths] == ["CollectedData.csv"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"labels_file": "labels.csv"}, r"labels_file: with 2 camera views .* CollectedData_\{view\}.csv"),
        ({"view_matches": [["nose"], ["tail"]]}, "view_matches: .* remove view_matches"),
        ({"views": ["top", "top"]}, "view names must be unique"),
        ({"views": ["top", "side_2"]}, r"letters and digits only .* \['side_2'\]"),
        ({"views": ["main"]}, r"labels_file: \{view\} names a camera view, but the project has one view"),
    ],
)
def test_bad_camera_settings_are_named(changes, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(ProjectConfig, {**CAMERAS, **changes}, "project.yaml")
