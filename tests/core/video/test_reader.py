import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import VideoError
from core.video.reader import iter_batches, iter_frames, probe_video, read_frame, read_frames
from tests.testdata import TOY_VIDEO, write_video


def test_probe_toy_video():
    info = probe_video(TOY_VIDEO)
    assert (info.width, info.height, info.frame_count, info.codec) == (396, 406, 994, "h264")
    assert info.fps == pytest.approx(250.0)
    assert not info.variable_frame_rate


def test_batches_cover_every_frame_in_order(tmp_path):
    frames = np.zeros((7, 32, 48, 3), np.uint8)
    for i in range(7):
        frames[i, :, :, 0] = 30 * i  # frame number encoded in the red channel
    path = write_video(tmp_path / "v.mp4", frames, codec="libx264", pix_fmt="yuv444p")
    batches = list(iter_batches(path, 3))
    assert [len(b) for b in batches] == [3, 3, 1]
    red = np.concatenate(batches)[:, 16, 24, 0].astype(int)
    np.testing.assert_allclose(red, 30 * np.arange(7), atol=4)


def test_read_frame_seeks_to_the_frame(tmp_path):
    frames = np.zeros((9, 32, 48, 3), np.uint8)
    for i in range(9):
        frames[i, :, :, 0] = 25 * i
    path = write_video(tmp_path / "v.mp4", frames, pix_fmt="yuv444p")
    assert [int(read_frame(path, i)[16, 24, 0]) for i in (0, 5, 8)] == pytest.approx([0, 125, 200], abs=4)
    with pytest.raises(VideoError, match="frames 0 to 8; frame 9"):
        read_frame(path, 9)


def test_read_frames_reads_a_run_from_a_seek_and_stops_at_the_end(tmp_path):
    frames = np.zeros((9, 32, 48, 3), np.uint8)
    for i in range(9):
        frames[i, :, :, 0] = 25 * i
    path = write_video(tmp_path / "v.mp4", frames, pix_fmt="yuv444p")
    red = read_frames(path, 3, 4)[:, 16, 24, 0].astype(int)
    np.testing.assert_allclose(red, [75, 100, 125, 150], atol=4)
    assert len(read_frames(path, 7, 4)) == 2  # frames 7 and 8: the video ends


def test_read_frame_from_a_file_object_is_the_frame_read_in_order():
    """By seeking, in a video with B-frames and a keyframe every 192-250 frames: 200 is decoded from
    the keyframe 192, 993 is the last."""
    wanted = (0, 191, 192, 200, 993)
    in_order = {i: frame for i, frame in enumerate(iter_frames(TOY_VIDEO)) if i in wanted}
    with TOY_VIDEO.open("rb") as file:
        for index in wanted:
            assert np.abs(read_frame(file, index).astype(int) - in_order[index]).mean() < 1, index


def test_odd_sized_video(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (5, 45, 61, 3), dtype=np.uint8)
    path = write_video(tmp_path / "odd.mp4", frames, pix_fmt="yuv444p")
    info = probe_video(path)
    assert (info.width, info.height, info.frame_count) == (61, 45, 5)
    assert next(iter_frames(path)).shape == (45, 61, 3)


def test_variable_frame_rate_video_reads_every_frame(tmp_path):
    frames = np.zeros((6, 32, 32, 3), np.uint8)
    pts = [0, 33, 50, 120, 130, 200]  # ms: irregular gaps
    path = write_video(tmp_path / "vfr.mkv", frames, fps=30, pts=pts)
    info = probe_video(path)
    assert info.frame_count == 6
    assert sum(1 for _ in iter_frames(path)) == 6


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"\x00\x01garbage" * 500, "not a readable video")],
)
def test_unusable_files_get_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoError, match=message):
        probe_video(path)


def test_truncated_video_is_rejected(tmp_path):
    data = TOY_VIDEO.read_bytes()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: len(data) // 50])  # the moov atom is at the end: unreadable
    with pytest.raises(VideoError):
        probe_video(path)


def test_zero_frame_video(tmp_path):
    path = tmp_path / "empty.mkv"
    subprocess.run(
        [
            "ffmpeg",
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=black:s=32x32:r=30",
            "-frames:v",
            "0",
            "-c:v",
            "libx264",
            str(path),
        ],
        check=True,
    )
    with pytest.raises(VideoError, match="no video frames"):
        probe_video(path)


def test_missing_and_audio_only(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        probe_video(tmp_path / "nope.mp4")
    wav = tmp_path / "a.wav"
    import wave

    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 800)
    with pytest.raises(VideoError, match="no video stream"):
        probe_video(Path(wav))


def test_rotation_tagged_video_is_read_as_stored(tmp_path):
    """Phone videos carry a rotation tag; frames and the probed size must agree."""
    clip, rotated = tmp_path / "clip.mp4", tmp_path / "rotated.mp4"
    ffmpeg = ["ffmpeg", "-y", "-loglevel", "error", "-i"]
    subprocess.run([*ffmpeg, str(TOY_VIDEO), "-frames:v", "3", "-c:v", "libx264", str(clip)], check=True)
    subprocess.run(
        [*ffmpeg, str(clip), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated)], check=True
    )
    ok, auto_rotated = cv2.VideoCapture(str(rotated)).read()
    assert ok and auto_rotated.shape[:2] == (396, 406), "the tag is there: OpenCV's default would rotate"
    info = probe_video(rotated)
    frame = next(iter_frames(rotated))
    assert frame.shape == (info.height, info.width, 3) == (406, 396, 3)
