import argparse
from pathlib import Path

import numpy as np
import pytest

from core.errors import ConfigError, LabelFormatError
from core.labels.dlc_csv import read_pose_csv
from core.labels.table import PREDICTION_FIELDS
from core.smoothing import command
from core.smoothing.io import SMOOTHED_FIELDS, group_by_view, read_smoothed, smooth_files
from tests.testdata import SHARED_DATA

EKS_DATA = SHARED_DATA / "eks_ensembles"
VIEWS = ["Cam-A", "Cam-B", "Cam-C"]


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="posecloud")
    command.register(parser.add_subparsers())
    args = parser.parse_args(["smooth", *argv])
    return args.run(args)


def check_sane(table, source):
    """Finite output, smoothed close to the median, posterior variance below the ensemble's."""
    assert table.fields == SMOOTHED_FIELDS
    xy = table.values[..., :2]
    assert np.isfinite(xy).all() and np.isfinite(table.values[..., 7:9]).all()
    median = table.values[..., 3:5]
    members = [read_pose_csv(p).select_keypoints(table.keypoints) for p in source]
    assert np.median(np.abs(xy - median)) < 2.0  # pixels
    posterior, ensemble = table.values[..., 7:9], table.values[..., 5:7]
    assert (posterior > 0).all() and np.median(posterior) < np.nanmedian(ensemble)
    assert len(table.index) == len(members[0].index)


def test_mirror_mouse_ensemble_smooths_to_finite_output(tmp_path: Path, capsys):
    members = sorted((EKS_DATA / "mirror-mouse").glob("*.csv"))
    out = tmp_path / "eks.csv"
    assert cli([*map(str, members), "-o", str(out)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{out}: EKS (variances in eks.variances.csv)",
        f"next: posecloud export {out} --format nwb --video VIDEO (an NWB file for DANDI, pynwb, movement)",
    ]
    # the trajectory holds what DeepLabCut-style readers expect; the variances are beside it
    assert read_pose_csv(out).fields == PREDICTION_FIELDS
    table = read_smoothed(out)
    assert len(table.keypoints) == 8 and len(table.index) == 2000
    check_sane(table, members)


def test_fly_three_cameras_smooth_to_one_file_per_view(tmp_path: Path):
    files = sorted((EKS_DATA / "fly").glob("*.csv"))
    assert cli([*map(str, files), "--views", ",".join(VIEWS), "-o", str(tmp_path / "out")]) == 0
    for view in VIEWS:
        table = read_smoothed(tmp_path / "out" / f"{view}.csv")
        assert len(table.keypoints) == 12 and len(table.index) == 500
        check_sane(table, [f for f in files if view in f.name])


def test_files_are_grouped_by_the_view_name_they_contain(tmp_path: Path):
    files = [Path(f"run.{v}.rng={i}.csv") for v in ("Cam-A", "Cam-B") for i in range(2)]
    groups = group_by_view(files, ["Cam-A", "Cam-B"])
    assert groups == {"Cam-A": files[:2], "Cam-B": files[2:]}
    with pytest.raises(LabelFormatError, match="names none of them"):
        group_by_view([*files, Path("other.csv")], ["Cam-A", "Cam-B"])
    with pytest.raises(LabelFormatError, match=r"matches \['Cam', 'Cam-A'\]"):
        group_by_view(files, ["Cam", "Cam-A"])
    with pytest.raises(LabelFormatError, match=r"no files for view\(s\) \['Cam-C'\]"):
        group_by_view(files, ["Cam-A", "Cam-B", "Cam-C"])


def test_mismatched_member_files_are_clear_errors(tmp_path: Path):
    mouse = sorted((EKS_DATA / "mirror-mouse").glob("*.csv"))
    fly = sorted((EKS_DATA / "fly").glob("*.csv"))
    with pytest.raises(LabelFormatError, match="keypoint names in .*do not match"):
        smooth_files([mouse[0], fly[0]], tmp_path / "x.csv")
    lines = mouse[1].read_text().splitlines()
    short = tmp_path / "short.csv"
    short.write_text("\n".join(lines[:103]) + "\n")
    with pytest.raises(LabelFormatError, match="short.csv has 100 frames but .* has 2000"):
        smooth_files([mouse[0], short], tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_cli_needs_two_views(tmp_path: Path):
    with pytest.raises(ConfigError, match="at least 2"):
        cli(["a.csv", "--views", "Cam-A", "-o", str(tmp_path)])
