"""An NWB pose file written with ndx-pose directly (as DeepLabCut's or another tool's exporter
would) imported as a project's labels: the poses at the frames asked for, the frames' images."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import cv2
import ndx_pose
import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile
from pynwb.image import ImageSeries

from core.cli import main
from core.config import load_project
from core.errors import LabelFormatError
from core.labels.dlc_csv import read_pose_csv
from core.labels.nwb_import import import_nwb
from core.video.reader import iter_frames

KEYPOINTS = ["snout", "paw", "tail"]
FPS = 250.0


def tool_file(folder: Path, video: Path) -> tuple[Path, np.ndarray]:
    """``folder/poses.nwb`` with a pose per frame of ``video`` (copied beside it, named relatively
    by the source video link), the paw missing in frame 7; and the ``(frames, 3, 2)`` positions."""
    shutil.copy(video, folder / "clip.mp4")
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 300, (40, 3, 2)).astype(np.float32)
    xy[7, 1] = np.nan
    nwbfile = NWBFile(
        session_description="s", identifier="t", session_start_time=datetime(2024, 5, 1, tzinfo=UTC)
    )
    source = ImageSeries(
        name="clip", unit="n.a.", format="external", external_file=["clip.mp4"], starting_frame=[0],
        num_samples=40, rate=FPS, starting_time=0.0,
    )  # fmt: skip
    nwbfile.add_acquisition(source)
    skeleton = ndx_pose.Skeleton(name="rat", nodes=KEYPOINTS, edges=np.array([[0, 1], [0, 2]], dtype="uint8"))
    series = [
        ndx_pose.PoseEstimationSeries(
            name=name,
            data=xy[:, k],
            confidence=np.full(40, 0.9),
            reference_frame="top left",
            rate=FPS,
            starting_time=0.0,
        )
        for k, name in enumerate(KEYPOINTS)
    ]
    behavior = nwbfile.create_processing_module(name="behavior", description="poses")
    behavior.add(ndx_pose.Skeletons(skeletons=[skeleton]))
    behavior.add(
        ndx_pose.PoseEstimation(
            pose_estimation_series=series,
            skeleton=skeleton,
            source_video=source,
            source_software="DeepLabCut",
        )
    )
    path = folder / "poses.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path, xy


def test_the_poses_at_the_frames_asked_for_become_labels(tmp_path, toy_clip):
    nwb, xy = tool_file(tmp_path, toy_clip)
    dest = tmp_path / "project"
    assert main(["import", str(nwb), "-o", str(dest), "--frames", "3,7,30:40:5"]) == 0
    project = load_project(dest)
    assert project.keypoints == KEYPOINTS and project.skeleton == [("snout", "paw"), ("snout", "tail")]
    labels = read_pose_csv(dest / "CollectedData.csv")
    frames = [3, 7, 30, 35]
    assert labels.index == [f"labeled-data/clip/img{f:08d}.png" for f in frames]
    np.testing.assert_array_equal(labels.xy, xy[frames])  # the paw of frame 7 stays missing
    decoded = [frame for i, frame in enumerate(iter_frames(toy_clip)) if i in frames]
    for entry, frame in zip(labels.index, decoded, strict=True):
        image = cv2.cvtColor(cv2.imread(str(dest / entry)), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(image, frame)  # the very frame, losslessly


def test_every_frame_with_a_pose_by_default(tmp_path, toy_clip):
    nwb, xy = tool_file(tmp_path, toy_clip)
    imported = import_nwb(nwb, tmp_path / "project")
    assert len(imported.labels.index) == 40
    np.testing.assert_array_equal(imported.labels.xy, xy)


def test_frames_the_file_lacks_and_a_missing_video_are_clear_errors(tmp_path, toy_clip):
    nwb, _ = tool_file(tmp_path, toy_clip)
    with pytest.raises(LabelFormatError, match=r"no poses at frames \[40\]; it has frames 0 to 39"):
        import_nwb(nwb, tmp_path / "p", frames=[3, 40])
    (tmp_path / "clip.mp4").unlink()
    with pytest.raises(LabelFormatError, match="clip.mp4, which is not there; pass the video"):
        import_nwb(nwb, tmp_path / "p")
    imported = import_nwb(nwb, tmp_path / "p", frames=[0], video=toy_clip)
    assert imported.labels.index == ["labeled-data/clip/img00000000.png"]
