import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from core.cli import main
from core.config import load_project
from core.data.unlabeled import project_videos
from core.errors import LabelFormatError
from core.labels.dlc_csv import read_pose_csv
from core.labels.dlc_project import import_dlc_project
from tests.testdata import TOY, TOY_VIDEO

MOUSE = TOY
SKELETON = [["paw1LH_top", "paw2LF_top"], ["tailBase_bot", "tailMid_bot"]]


def _frame(table, rows: slice, index: pd.Index) -> pd.DataFrame:
    columns = pd.MultiIndex.from_tuples(
        [("rick", k, c) for k in table.keypoints for c in ("x", "y")], names=["scorer", "bodyparts", "coords"]
    )
    return pd.DataFrame(table.values[rows].reshape(-1, len(columns)), index=index, columns=columns)


def _make_project(root: Path, windows_index: bool = False) -> Path:
    """A DeepLabCut project from the mirror-mouse labels: frames 1-45 in vid1 (CSV), 46-90 in vid2 (H5)."""
    table = read_pose_csv(MOUSE / "CollectedData.csv")
    config = {"Task": "mouse", "scorer": "rick", "bodyparts": table.keypoints, "skeleton": SKELETON}
    root.mkdir()
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    for video, rows in (("vid1", slice(0, 45)), ("vid2", slice(45, 90))):
        folder = root / "labeled-data" / video
        folder.mkdir(parents=True)
        names = [Path(entry).name for entry in table.index[rows]]
        for name in names:
            shutil.copy(MOUSE / "labeled-data" / name, folder / name)
        if video == "vid1" and windows_index:
            index = pd.Index([f"labeled-data\\vid1\\{n}" for n in names])
            _frame(table, rows, index).to_csv(folder / "CollectedData_rick.csv")
        elif video == "vid1":
            index = pd.MultiIndex.from_tuples([("labeled-data", video, n) for n in names])
            _frame(table, rows, index).to_csv(folder / "CollectedData_rick.csv")
        else:
            index = pd.MultiIndex.from_tuples([("labeled-data", video, n) for n in names])
            _frame(table, rows, index).to_hdf(
                folder / "CollectedData_rick.h5", key="df_with_missing", mode="w"
            )
    unlabeled = root / "labeled-data" / "vid3"
    unlabeled.mkdir()
    shutil.copy(MOUSE / "labeled-data" / "img00.png", unlabeled / "img00.png")
    return root


@pytest.mark.parametrize("windows_index", [False, True])
def test_import_csv_and_h5_folders(tmp_path, windows_index):
    project = _make_project(tmp_path / "dlc", windows_index)
    dest = tmp_path / "posecloud"
    result = import_dlc_project(project, dest)

    original = read_pose_csv(MOUSE / "CollectedData.csv")
    assert result.keypoints == original.keypoints
    assert result.skeleton == [("paw1LH_top", "paw2LF_top"), ("tailBase_bot", "tailMid_bot")]
    assert result.labels.index[0] == "labeled-data/vid1/img01.png"
    assert result.labels.index[44] == "labeled-data/vid1/img45.png"
    assert result.labels.index[45] == "labeled-data/vid2/img46.png"
    assert result.labels.index[-1] == "labeled-data/vid2/img90.png"
    assert np.array_equal(result.labels.values, original.values, equal_nan=True)
    assert result.labels.values[0, 0].tolist() == [77.25, 36.25]
    assert result.labels.scorer == "rick"

    assert result.labels_csv == dest / "CollectedData.csv"
    written = read_pose_csv(result.labels_csv)
    assert written.index == result.labels.index
    assert np.array_equal(written.values, original.values, equal_nan=True)
    for entry in result.labels.index:
        assert (dest / entry).read_bytes() == (MOUSE / "labeled-data" / Path(entry).name).read_bytes()
    assert sorted(p.name for p in (dest / "labeled-data").iterdir()) == ["vid1", "vid2"]  # vid3 unlabeled
    assert len(list((dest / "labeled-data" / "vid2").iterdir())) == 45


def test_mismatched_body_parts_name_the_folder(tmp_path):
    project = _make_project(tmp_path / "dlc")
    h5 = project / "labeled-data" / "vid2" / "CollectedData_rick.h5"
    frame = pd.read_hdf(h5, key="df_with_missing").rename(columns={"nose_top": "snout"}, level="bodyparts")
    frame.to_hdf(h5, key="df_with_missing", mode="w")
    with pytest.raises(
        LabelFormatError, match=r"labeled-data/vid2/CollectedData_rick.h5.*missing \['nose_top'\]"
    ) as err:
        import_dlc_project(project, tmp_path / "dest")
    assert "not in the project ['snout']" in str(err.value)
    assert not (tmp_path / "dest").exists()


def test_missing_image_is_named_and_nothing_is_copied(tmp_path):
    project = _make_project(tmp_path / "dlc")
    (project / "labeled-data" / "vid2" / "img60.png").unlink()
    with pytest.raises(
        LabelFormatError, match=r"image .*vid2/img60.png of row 'labeled-data/vid2/img60.png'"
    ):
        import_dlc_project(project, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def _write_config(tmp_path: Path, config) -> Path:
    (tmp_path / "dlc").mkdir()
    (tmp_path / "dlc" / "config.yaml").write_text(
        config if isinstance(config, str) else yaml.safe_dump(config)
    )
    return tmp_path / "dlc"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("bodyparts: [a, b\n", "is not valid YAML"),
        ("- a\n- b\n", "is not a DeepLabCut config"),
        ({"scorer": "me", "multianimalproject": True, "bodyparts": "MULTI!"}, "multi-animal"),
        ({"scorer": "me", "bodyparts": []}, "'bodyparts' must be a non-empty list"),
        ({"scorer": "me", "bodyparts": ["a", "b"], "skeleton": [["a"]]}, "'skeleton' must be a list of"),
        ({"scorer": "me", "bodyparts": ["a", "b"], "skeleton": [["a", "c"]]}, r"name \['c'\], which are not"),
        ({"bodyparts": ["a", "b"]}, "'scorer' must be"),
        ({"scorer": "me", "bodyparts": ["a", "b"]}, r"no labels found .*CollectedData_me.csv"),
    ],
)
def test_bad_project_config(tmp_path, config, message):
    project = _write_config(tmp_path, config)
    with pytest.raises(LabelFormatError, match=message):
        import_dlc_project(project, tmp_path / "dest")


def test_missing_config(tmp_path):
    with pytest.raises(LabelFormatError, match="config.yaml not found"):
        import_dlc_project(tmp_path, tmp_path / "dest")


def _with_videos(tmp_path: Path) -> Path:
    """The DeepLabCut project of ``_make_project`` whose config.yaml lists three videos: vid1 at its
    absolute path outside the project, vid2 at a path of the machine it was made on (DeepLabCut's
    copy in the project's videos/ is there), and vid3 nowhere (a Windows path)."""
    project = _make_project(tmp_path / "dlc")
    (tmp_path / "recordings").mkdir()
    shutil.copy(TOY_VIDEO, tmp_path / "recordings" / "vid1.mp4")
    (project / "videos").mkdir()
    shutil.copy(TOY_VIDEO, project / "videos" / "vid2.mp4")
    config = yaml.safe_load((project / "config.yaml").read_text())
    crop = {"crop": "0, 396, 0, 406"}
    config["video_sets"] = {
        str(tmp_path / "recordings" / "vid1.mp4"): crop,
        "/home/rick/mouse-2024/videos/vid2.mp4": crop,
        "C:\\Users\\rick\\videos\\vid3.avi": crop,
    }
    (project / "config.yaml").write_text(yaml.safe_dump(config))
    return project


def test_the_listed_videos_are_copied_and_a_missing_one_reported(tmp_path, capsys):
    project, dest = _with_videos(tmp_path), tmp_path / "posecloud"
    assert main(["import", str(project), "-o", str(dest)]) == 0
    out, err = capsys.readouterr()
    assert f"{dest / 'videos'}: 2 videos (copied)" in out
    assert [line for line in err.splitlines() if not line.startswith("importing dlc: ")] == [
        f"warning: C:\\Users\\rick\\videos\\vid3.avi (in config.yaml's video_sets) is missing, also from "
        f"{project / 'videos'}; put it in {dest / 'videos'}/ for frame extraction and semi-supervised training"
    ]
    assert out.splitlines()[-1].startswith(f"next: posecloud train {dest}")
    videos = project_videos(load_project(dest))  # where frame extraction and semi-supervised training look
    assert [v.name for v in videos] == ["vid1.mp4", "vid2.mp4"]
    assert all(v.read_bytes() == TOY_VIDEO.read_bytes() and not v.is_symlink() for v in videos)
    assert yaml.safe_load((dest / "project.yaml").read_text())["video_dir"] == "videos"


def test_videos_can_be_linked(tmp_path):
    project, dest = _with_videos(tmp_path), tmp_path / "posecloud"
    reports = []
    imported = import_dlc_project(project, dest, link_videos=True, progress=lambda *r: reports.append(r))
    assert sorted(imported.videos) == [dest / "videos" / "vid1.mp4", dest / "videos" / "vid2.mp4"]
    assert imported.missing_videos == ["C:\\Users\\rick\\videos\\vid3.avi"]
    assert (dest / "videos" / "vid1.mp4").readlink() == (tmp_path / "recordings" / "vid1.mp4").resolve()
    assert (dest / "videos" / "vid2.mp4").readlink() == (project / "videos" / "vid2.mp4").resolve()
    assert reports[-1] == (92, 92) and len(reports) == 92  # 90 labeled images and 2 videos
