"""ffprobe validation of uploaded videos."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.probe import VideoInfo, probe_video
from core.errors import ConfigError, VideoError
from tests.testdata import TOY_VIDEO

TEST_VIDEO = TOY_VIDEO
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def test_probe_reads_the_example_video() -> None:
    assert probe_video(TEST_VIDEO, "v.mp4") == VideoInfo(
        fps=250.0, frames=994, width=396, height=406, codec="h264"
    )


def test_still_image_is_not_a_video(tmp_path: Path) -> None:
    image = tmp_path / "frame.mp4"
    image.write_bytes(PNG)
    with pytest.raises(VideoError, match=r"^frame.mp4 is a still image \(png_pipe\), not a video"):
        probe_video(image, "frame.mp4")


def test_truncated_video_is_rejected(truncated_video: Path) -> None:
    with pytest.raises(VideoError, match="header promises 994 frames but only .* could be read"):
        probe_video(truncated_video, "cut.mp4")


def test_garbage_names_the_file_not_the_temp_path(tmp_path: Path) -> None:
    garbage = tmp_path / "abc123.part"
    garbage.write_bytes(b"garbage" * 100)
    with pytest.raises(VideoError) as info:
        probe_video(garbage, "clip.avi")
    assert str(info.value).startswith("clip.avi is not a readable video") and str(tmp_path) not in str(
        info.value
    )


def test_missing_ffprobe_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match="ffprobe was not found on PATH: install FFmpeg"):
        probe_video(TEST_VIDEO, "v.mp4")
