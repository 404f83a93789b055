"""NWB pose files: what posecloud writes, read back by pynwb/ndx-pose, movement and nwbinspector
(DANDI's checks); files laid out as other tools write them, read by posecloud."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

import h5py
import ndx_pose
import numpy as np
import pytest
import yaml
from pynwb import NWBHDF5IO, NWBFile

from core.errors import LabelFormatError
from core.labels.formats import read_labels
from core.labels.nwb import NwbVideo, Provenance, read_nwb_poses, write_pose_nwb
from core.labels.table import LABEL_FIELDS, PREDICTION_FIELDS, PoseTable
from tests.testdata import TOY_VIDEO

KEYPOINTS = ["nose", "ear", "tail"]
SKELETON = [("nose", "ear"), ("ear", "tail")]
FPS = 250.0


def predictions(frames: int = 30) -> PoseTable:
    """x, y, likelihood of 3 keypoints over ``frames`` frames; the ear missing in frame 4."""
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.uniform(0, 400, (frames, 3, 2)), rng.uniform(0, 1, (frames, 3, 1))], axis=-1)
    values[4, 1] = np.nan
    return PoseTable(KEYPOINTS, [str(i) for i in range(frames)], values, PREDICTION_FIELDS, "tiny")


def write(path: Path, table: PoseTable | None = None) -> Path:
    video = NwbVideo(TOY_VIDEO, FPS, 396, 406, 994, camera="top")
    provenance = Provenance("tiny", {"train": {"backbone": "resnet18", "epochs": 2}}, SKELETON)
    return write_pose_nwb(table or predictions(), path, video, provenance)


def test_pynwb_and_ndx_pose_read_what_posecloud_writes(tmp_path):
    table = predictions()
    path = write(tmp_path / "out" / "clip.nwb", table)
    with NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
        nwbfile = io.read()
        behavior = nwbfile.processing["behavior"]
        estimation = behavior["PoseEstimation"]
        assert list(estimation.pose_estimation_series) == sorted(KEYPOINTS)  # HDF5 keeps names sorted
        for k, keypoint in enumerate(KEYPOINTS):
            series = estimation.pose_estimation_series[keypoint]
            np.testing.assert_array_equal(series.data[:], table.xy[:, k].astype(np.float32))
            np.testing.assert_array_equal(
                series.confidence[:], table.field("likelihood")[:, k].astype(np.float32)
            )
            np.testing.assert_allclose(series.get_timestamps(), np.arange(30) / FPS)
            assert series.unit == "pixels" and series.rate == FPS
        skeleton = behavior["Skeletons"]["skeleton"]
        assert list(skeleton.nodes[:]) == KEYPOINTS and skeleton.edges[:].tolist() == [[0, 1], [1, 2]]
        assert estimation.skeleton is skeleton
        assert estimation.scorer == "tiny" and estimation.source_software == "posecloud"
        assert estimation.source_software_version  # posecloud's version, from its package metadata
        settings = yaml.safe_load(estimation.description.split("\n", 1)[1])
        assert settings == {"train": {"backbone": "resnet18", "epochs": 2}}
        video = estimation.source_video
        assert (
            video is nwbfile.acquisition["video"]
            and video.rate == FPS
            and list(video.dimension[:]) == [396, 406]
        )
        assert (path.parent / video.external_file[0]).resolve() == TOY_VIDEO.resolve()  # relative to the file
        assert estimation.device.name == "top" and video.device is estimation.device


def test_posecloud_reads_back_what_it_writes(tmp_path):
    table = predictions()
    poses = read_nwb_poses(write(tmp_path / "clip.nwb", table))
    assert poses.name == "behavior/PoseEstimation" and poses.skeleton == SKELETON
    assert poses.table.keypoints == KEYPOINTS and poses.table.index == table.index
    np.testing.assert_array_equal(poses.table.values, table.values.astype(np.float32))
    np.testing.assert_allclose(poses.timestamps, np.arange(30) / FPS)
    assert poses.video.resolve() == TOY_VIDEO.resolve()
    assert read_labels(tmp_path / "clip.nwb").fields == PREDICTION_FIELDS


def test_movement_loads_what_posecloud_writes(tmp_path):
    from movement.io import load_poses

    table = predictions()
    ds = load_poses.from_nwb_file(write(tmp_path / "clip.nwb", table))
    assert list(ds.keypoints.values) == sorted(KEYPOINTS) and ds.attrs["fps"] == FPS  # in the file's order
    ds = ds.sel(keypoints=KEYPOINTS)
    np.testing.assert_allclose(ds.time.values, np.arange(30) / FPS)
    position = ds.position.transpose("time", "keypoints", "space", "individuals").values[..., 0]
    np.testing.assert_array_equal(position, table.xy.astype(np.float32))
    confidence = ds.confidence.transpose("time", "keypoints", "individuals").values[..., 0]
    np.testing.assert_array_equal(confidence, table.field("likelihood").astype(np.float32))
    assert ds.attrs["source_software"] == "posecloud"


def test_nwbinspector_finds_only_the_subject_missing(tmp_path):
    """DANDI runs these checks on upload: posecloud cannot know the animal (species, sex, age)."""
    from nwbinspector import Importance, inspect_nwbfile, load_config

    messages = list(
        inspect_nwbfile(nwbfile_path=str(write(tmp_path / "clip.nwb")), config=load_config("dandi"))
    )
    serious = [m.check_function_name for m in messages if m.importance != Importance.BEST_PRACTICE_SUGGESTION]
    assert serious == ["check_subject_exists"]


def test_sleap_io_reads_only_its_own_nwb_layout(tmp_path):
    """sleap-io 0.9.5's load_nwb looks for SLEAP_VIDEO_* processing modules, which no other tool writes."""
    import sleap_io

    with pytest.raises(IndexError):
        sleap_io.load_nwb(str(write(tmp_path / "clip.nwb")))


def other_tool_file(path: Path) -> Path:
    """An NWB file laid out as another tool writes one, made with ndx-pose directly: two animals'
    PoseEstimations in a module named after the video, timestamps (not a rate), each keypoint's
    series only where it was found, the video named in the deprecated ``original_videos``, no
    confidence for one keypoint."""
    nwbfile = NWBFile(
        session_description="tracked",
        identifier="other-tool",
        session_start_time=datetime(2024, 1, 1, tzinfo=UTC),
    )
    skeleton = ndx_pose.Skeleton(
        name="mouse", nodes=["tail", "nose"], edges=np.array([[1, 0]], dtype="uint8")
    )
    module = nwbfile.create_processing_module(name="video_1", description="poses")
    module.add(ndx_pose.Skeletons(skeletons=[skeleton]))
    for animal, shift in (("animal_0", 0.0), ("animal_1", 100.0)):
        nose_frames, tail_frames = np.arange(10), np.array([0, 1, 2, 5, 6, 9])
        series = [
            ndx_pose.PoseEstimationSeries(
                name="nose",
                data=np.stack([nose_frames + shift, nose_frames * 2.0], axis=1),
                confidence=np.linspace(0.5, 0.95, 10),
                reference_frame="top left",
                timestamps=nose_frames / 30.0,
            ),
            ndx_pose.PoseEstimationSeries(
                name="tail",
                data=np.stack([tail_frames + 0.5 + shift, tail_frames * 3.0], axis=1),
                reference_frame="top left",
                timestamps=tail_frames / 30.0,
            ),
        ]
        module.add(
            ndx_pose.PoseEstimation(
                name=animal,
                pose_estimation_series=series,
                skeleton=skeleton,
                scorer="other",
                source_software="OtherTool",
                original_videos=["clip.mp4"],
            )
        )
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


@pytest.fixture
def other_tool(tmp_path) -> Path:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*'original_videos' constructor argument is deprecated")
        return other_tool_file(tmp_path / "other.nwb")


def test_another_tools_file_reads_as_a_pose_table(tmp_path, other_tool):
    path = other_tool
    with pytest.raises(
        LabelFormatError, match=r"2 PoseEstimation objects \['video_1/animal_0', 'video_1/animal_1'\]"
    ):
        read_nwb_poses(path)
    poses = read_nwb_poses(path, "animal_1")
    table = poses.table
    assert poses.name == "video_1/animal_1" and table.scorer == "other"
    assert table.keypoints == ["tail", "nose"] and poses.skeleton == [
        ("nose", "tail")
    ]  # the skeleton's order
    assert table.index == [str(f) for f in range(10)]  # frame = time x 30 frames/s
    np.testing.assert_allclose(table.field("x")[:, 1], np.arange(10) + 100.0)
    np.testing.assert_allclose(table.field("likelihood")[:, 1], np.linspace(0.5, 0.95, 10))
    tail_x = table.field("x")[:, 0]
    assert np.isnan(tail_x[[3, 4, 7, 8]]).all()
    np.testing.assert_allclose(tail_x[[0, 1, 2, 5, 6, 9]], np.array([0, 1, 2, 5, 6, 9]) + 100.5)
    assert np.isnan(table.field("likelihood")[:, 0]).all()  # no confidence in the file
    assert poses.video == tmp_path / "clip.mp4"
    assert read_nwb_poses(path, "video_1/animal_0").table.field("x")[0, 1] == 0.0


def test_unreadable_files_are_clear_errors(tmp_path, other_tool):
    with pytest.raises(LabelFormatError, match="not found"):
        read_nwb_poses(tmp_path / "none.nwb")
    (tmp_path / "text.nwb").write_text("not hdf5")
    with pytest.raises(LabelFormatError, match="not a readable NWB"):
        read_nwb_poses(tmp_path / "text.nwb")
    with h5py.File(tmp_path / "plain.nwb", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(LabelFormatError, match="not a readable NWB .*Missing NWB version"):
        read_nwb_poses(tmp_path / "plain.nwb")
    empty = NWBFile(
        session_description="x", identifier="x", session_start_time=datetime(2024, 1, 1, tzinfo=UTC)
    )
    with NWBHDF5IO(str(tmp_path / "empty.nwb"), "w") as io:
        io.write(empty)
    with pytest.raises(LabelFormatError, match="holds no ndx-pose PoseEstimation"):
        read_nwb_poses(tmp_path / "empty.nwb")
    with pytest.raises(LabelFormatError, match="no PoseEstimation named 'cat'"):
        read_nwb_poses(other_tool, "cat")


def test_labels_of_images_are_not_an_nwb_series(tmp_path):
    labels = PoseTable(KEYPOINTS, ["labeled-data/v/img1.png"], np.zeros((1, 3, 2)), LABEL_FIELDS)
    with pytest.raises(LabelFormatError, match="export predictions of a video"):
        write(tmp_path / "labels.nwb", labels)
    assert not list(tmp_path.iterdir())


@pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")  # sleap-io writes ndx-pose's old fields
def test_a_file_sleap_io_writes_reads_as_a_pose_table(tmp_path):
    import sleap_io as sio

    skeleton = sio.Skeleton(["head", "tail"], edges=[("head", "tail")], name="mouse")
    video = sio.Video(filename=str(tmp_path / "clip.mp4"))
    points = np.array([[[10.0 + f, 20.0, 0.9], [30.0, 40.0 + f, 0.8]] for f in range(5)])
    frames = [
        sio.LabeledFrame(
            video=video,
            frame_idx=f,
            instances=[sio.PredictedInstance.from_numpy(points[f], skeleton=skeleton, score=0.85)],
        )
        for f in range(5)
    ]
    sio.save_nwb(sio.Labels(frames), str(tmp_path / "sleap.nwb"))
    poses = read_nwb_poses(tmp_path / "sleap.nwb")
    assert poses.name == "SLEAP_VIDEO_000_clip/track=untracked" and poses.skeleton == [("head", "tail")]
    assert poses.table.keypoints == ["head", "tail"] and poses.table.index == ["0", "1", "2", "3", "4"]
    np.testing.assert_allclose(poses.table.values, points)
    assert poses.video == tmp_path / "clip.mp4"
