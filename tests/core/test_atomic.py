"""Atomic writes (core.atomic) and the outputs written through them: a reader never sees half a
file, and every output gets the mode of any new file, 0666 less the umask (0644 under the usual
022): readable by the other members of the lab, not tempfile.mkstemp's 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.atomic import atomic_open, atomic_path
from core.labels.dlc_csv import write_pose_csv
from core.labels.dlc_h5 import write_pose_h5
from core.labels.nwb import NwbVideo, Provenance, write_pose_nwb
from core.labels.table import PREDICTION_FIELDS, PoseTable
from core.predict.labeled_frames import write_pixel_error
from core.predict.labeled_video import write_labeled_video
from core.smoothing.fastcsv import write_pose_file
from core.smoothing.io import SMOOTHED_FIELDS, write_smoothed
from core.video.extract import extract_frames
from tests.testdata import write_video

KEYPOINTS = ["nose", "tail"]
FRAMES = 6


@pytest.fixture(params=[0o022, 0o007], ids=["umask 022", "umask 007"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _table(fields: tuple[str, ...] = PREDICTION_FIELDS) -> PoseTable:
    values = np.random.default_rng(0).uniform(0.1, 0.9, (FRAMES, len(KEYPOINTS), len(fields))) * 40
    return PoseTable(KEYPOINTS, [str(i) for i in range(FRAMES)], values, fields, "s")


def _video(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_video(folder / "clip.mp4", np.full((FRAMES, 32, 48, 3), 90, np.uint8))


def _nwb(folder: Path) -> Path:
    video = NwbVideo(_video(folder / "in"), 30.0, 48, 32, FRAMES, camera="main")
    return write_pose_nwb(_table(), folder / "clip.nwb", video, Provenance("m", {}, [tuple(KEYPOINTS)]))


OUTPUTS: dict[str, Callable[[Path], object]] = {
    "prediction CSV": lambda d: write_pose_csv(_table(), d / "clip.csv"),
    "prediction CSV (fast writer)": lambda d: write_pose_file(_table(), d / "clip.csv"),
    "EKS CSV and its variances": lambda d: write_smoothed(_table(SMOOTHED_FIELDS), d / "clip.eks.csv"),
    "metrics CSV": lambda d: write_pixel_error(
        pd.DataFrame(np.ones((FRAMES, 2)), columns=KEYPOINTS), d / "clip.temporal_norm.csv"
    ),
    "H5 predictions": lambda d: write_pose_h5(_table(), d / "clip.h5"),
    "NWB predictions": _nwb,
    "labeled video": lambda d: write_labeled_video(
        _video(d / "in"), _table(), [(0, 1)], d / "clip.labeled.mp4"
    ),
    "extracted frames": lambda d: extract_frames(_video(d / "in"), [2], d / "project"),
}


@pytest.mark.parametrize("output", sorted(OUTPUTS))
def test_outputs_take_the_mode_of_a_new_file(tmp_path: Path, umask: int, output: str) -> None:
    OUTPUTS[output](tmp_path)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "in" not in p.relative_to(tmp_path).parts]
    assert written, f"{output}: nothing written"
    assert {str(p.relative_to(tmp_path)): oct(_mode(p)) for p in written} == {
        str(p.relative_to(tmp_path)): oct(0o666 & ~umask) for p in written
    }
    assert not [p for p in written if p.name.startswith(".")], "a temporary file was left behind"


def test_atomic_open_replaces_the_file_only_when_complete(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "out" / "labels.csv"
    with atomic_open(path, "w") as f:
        f.write("first")
        assert not path.exists()
    assert path.read_text() == "first" and _mode(path) == 0o666 & ~umask
    with pytest.raises(RuntimeError, match="disk full"), atomic_open(path, "w") as f:
        f.write("half of the second")
        raise RuntimeError("disk full")
    assert path.read_text() == "first" and [p.name for p in path.parent.iterdir()] == ["labels.csv"]


def test_atomic_path_names_the_temporary_file_with_the_suffix(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "clip.labeled.mp4", suffix=".mp4") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".clip.labeled.mp4.") and tmp.suffix == ".mp4"
        tmp.write_bytes(b"video")
    assert (tmp_path / "clip.labeled.mp4").read_bytes() == b"video" and not tmp.exists()
