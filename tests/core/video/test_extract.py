from pathlib import Path

import numpy as np
import pytest

from core.data.images import read_rgb
from core.errors import VideoError
from core.video.extract import extract_frames, frame_image_path
from core.video.reader import iter_frames


def test_picked_and_context_frames_are_written_with_the_decoded_pixels(toy_clip: Path, tmp_path: Path):
    written = extract_frames(toy_clip, [20, 1, 38, 20], tmp_path)
    expected = [0, 1, 2, 3, 18, 19, 20, 21, 22, 36, 37, 38, 39]  # context clipped at both ends
    assert written == [tmp_path / "labeled-data" / "clip" / f"img{f:08d}.png" for f in expected]
    assert sorted(p.name for p in (tmp_path / "labeled-data" / "clip").iterdir()) == [p.name for p in written]
    decoded = list(iter_frames(toy_clip))
    for frame, path in zip(expected, written, strict=True):
        np.testing.assert_array_equal(read_rgb(path), decoded[frame])


def test_no_context_and_the_image_path_layout(toy_clip: Path, tmp_path: Path):
    assert extract_frames(toy_clip, [5], tmp_path, context=0) == [tmp_path / frame_image_path(toy_clip, 5)]
    assert frame_image_path("/videos/session 1.mp4", 123) == Path("labeled-data/session 1/img00000123.png")


def test_frames_outside_the_video_are_a_clear_error(toy_clip: Path, tmp_path: Path):
    with pytest.raises(VideoError, match=r"frames \[40\] are outside clip.mp4, which has frames 0 to 39"):
        extract_frames(toy_clip, [3, 40], tmp_path)
    assert not (tmp_path / "labeled-data").exists()


class Stop(Exception):
    pass


def test_progress_counts_the_picked_frames_written_and_can_stop_the_decoding(toy_clip: Path, tmp_path: Path):
    reports = []
    extract_frames(toy_clip, [20, 1, 38, 20], tmp_path / "all", progress=lambda *r: reports.append(r))
    assert len(reports) == 40  # one per decoded frame: the last pick's context ends at frame 39
    assert {total for _, total in reports} == {3}
    # pick 1 is written at the 2nd decoded frame, pick 20 at the 21st, pick 38 at the 39th
    assert [done for done, _ in reports].index(1) == 1
    assert [done for done, _ in reports].index(2) == 20 and reports[-2:] == [(3, 3), (3, 3)]

    def stop_at_frame_10(done: int, total: int) -> None:
        reports.append((done, total))
        if len(reports) == 10:
            raise Stop

    reports = []
    with pytest.raises(Stop):
        extract_frames(toy_clip, [1, 30], tmp_path / "stopped", progress=stop_at_frame_10)
    assert sorted(p.name for p in (tmp_path / "stopped" / "labeled-data" / "clip").iterdir()) == [
        f"img{f:08d}.png" for f in range(4)
    ]
