import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import sleap_io as sio

from core.errors import LabelFormatError, VideoError
from core.labels.dlc_csv import read_pose_csv
from core.labels.sleap import import_sleap
from tests.testdata import SHARED_DATA

DATA = SHARED_DATA / "sleap_minimal"
PKG = DATA / "minimal_instance.pkg.slp"
ROBOT = DATA / "small_robot_minimal.slp"


def test_package_with_two_flies_needs_an_instance_choice(tmp_path):
    with pytest.raises(
        LabelFormatError, match="1 of 1 labeled frames have several user instances.*`instance`"
    ):
        import_sleap(PKG, tmp_path)
    with pytest.raises(LabelFormatError, match="instance=2 does not exist; frames hold 1 to 2"):
        import_sleap(PKG, tmp_path, instance=2)


@pytest.mark.parametrize(
    ("instance", "expected"),
    [
        (0, [[92.65220773, 202.72597774], [152.34188116, 158.42364351]]),
        (1, [[205.9300539, 187.88964024], [278.63521449, 203.36586573]]),
    ],
)
def test_package_embedded_image_and_chosen_instance(tmp_path, instance, expected):
    result = import_sleap(PKG, tmp_path, instance=instance)
    assert result.keypoints == ["A", "B"]
    assert result.skeleton == [("A", "B")]
    # Embedded frames are named after the video they were taken from.
    assert result.labels.index == ["labeled-data/centered_pair_low_quality/img00000000.png"]
    assert result.labels.values[0] == pytest.approx(np.array(expected), abs=1e-8)
    reference = sio.load_slp(str(PKG)).labeled_frames[0].user_instances[instance].numpy()
    assert np.array_equal(result.labels.values[0], reference)

    image = cv2.imread(str(tmp_path / result.labels.index[0]), cv2.IMREAD_UNCHANGED)
    assert image.shape == (384, 384)
    assert np.array_equal(image, sio.load_slp(str(PKG)).labeled_frames[0].image[:, :, 0])
    written = read_pose_csv(result.labels_csv)
    assert np.array_equal(written.values, result.labels.values)


def test_video_is_found_next_to_the_slp_file(tmp_path):
    result = import_sleap(ROBOT, tmp_path)  # the stored path tests/data/videos/small_robot.mp4 is gone
    assert result.keypoints == ["A", "B"]
    assert result.skeleton == [("A", "B")]
    assert result.labels.index == [
        "labeled-data/small_robot/img00000000.png",
        "labeled-data/small_robot/img00000079.png",
    ]
    assert result.labels.values[:, 0] == pytest.approx(
        np.array([[316.48974668, 47.69157075], [316.48974668, 47.52269258]])
    )
    assert result.labels.values[:, 1] == pytest.approx(np.array([[314.1013269, 135.3723617]] * 2))

    image = cv2.imread(str(tmp_path / result.labels.index[1]))
    assert image.shape == (320, 560, 3)
    video = cv2.VideoCapture(str(DATA / "small_robot.mp4"))
    video.set(cv2.CAP_PROP_POS_FRAMES, 79)
    ok, frame = video.read()
    assert ok and np.array_equal(image, frame)  # decoded frame 79, colour channels kept (BGR on disk)


def test_missing_video_is_named(tmp_path):
    shutil.copy(ROBOT, tmp_path / ROBOT.name)
    with pytest.raises(VideoError, match=r"video tests/data/videos/small_robot.mp4, which does not exist"):
        import_sleap(tmp_path / ROBOT.name, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_invisible_points_fewer_instances_and_predictions(tmp_path):
    labels = sio.load_slp(str(ROBOT))
    skeleton = labels.skeletons[0]
    labels.labeled_frames[1].user_instances[0].points["visible"][1] = False  # frame 79: B hidden
    second = sio.Instance.from_numpy(np.array([[10.5, 20.25], [30.0, 40.0]]), skeleton=skeleton)
    labels.labeled_frames[0].instances.append(second)  # frame 0: two animals
    predicted = sio.PredictedInstance.from_numpy(np.array([[1.0, 2.0], [3.0, 4.0]]), skeleton=skeleton)
    labels.append(sio.LabeledFrame(video=labels.videos[0], frame_idx=5, instances=[predicted]))
    labels.videos.append(
        sio.Video(filename="elsewhere/unlabeled.mp4", open_backend=False)
    )  # no frames: ignored
    edited = tmp_path / "edited.slp"
    sio.save_slp(labels, str(edited))

    with pytest.raises(LabelFormatError, match="1 of 2 labeled frames have several user instances"):
        import_sleap(edited, tmp_path / "a")

    first = import_sleap(edited, tmp_path / "a", instance=0)
    assert [Path(i).name for i in first.labels.index] == ["img00000000.png", "img00000079.png"]  # no frame 5
    assert first.labels.values[1, 0] == pytest.approx([316.48974668, 47.52269258])
    assert np.isnan(first.labels.values[1, 1]).all()

    other = import_sleap(edited, tmp_path / "b", instance=1)
    assert other.labels.values[0].tolist() == [[10.5, 20.25], [30.0, 40.0]]
    assert np.isnan(other.labels.values[1]).all()
    assert (tmp_path / "b" / other.labels.index[1]).is_file()


def test_unreadable_files(tmp_path):
    with pytest.raises(LabelFormatError, match="SLEAP file not found"):
        import_sleap(tmp_path / "absent.slp", tmp_path)
    not_slp = tmp_path / "labels.slp"
    not_slp.write_text("scorer,a\n")
    with pytest.raises(LabelFormatError, match="is not a readable SLEAP .slp file"):
        import_sleap(not_slp, tmp_path)
