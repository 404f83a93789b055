"""Initial frame picks: distinct, moving, spread over postures."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import VideoError
from core.selection.initial import pick_initial_frames, thumbnails


def test_picks_are_distinct_moving_frames_spread_over_postures(toy_clip) -> None:
    picks = pick_initial_frames(toy_clip, 6)
    assert picks == sorted(set(picks)) and len(picks) == 6
    thumbs = thumbnails(toy_clip)
    energy = np.abs(np.diff(thumbs, axis=0)).mean(axis=(1, 2))
    energy = np.concatenate([energy[:1], energy])
    assert (energy[picks] >= np.median(energy)).all()
    flat = thumbs.reshape(len(thumbs), -1)
    spread = lambda idx: np.mean([np.linalg.norm(flat[a] - flat[b]) for a in idx for b in idx if a < b])  # noqa: E731
    # picks differ from each other more than a run of neighbouring frames does
    assert spread(picks) > spread(list(range(10, 16)))
    assert pick_initial_frames(toy_clip, 6) == picks  # seeded


def test_more_frames_than_the_video_has_is_a_clear_error(toy_clip) -> None:
    with pytest.raises(VideoError, match="has 40 frames; cannot pick 41"):
        pick_initial_frames(toy_clip, 41)


def test_progress_follows_the_reading_and_can_stop_it(toy_clip) -> None:
    reports = []
    pick_initial_frames(toy_clip, 6, progress=lambda *r: reports.append(r))
    assert reports == [(i, 40) for i in range(1, 41)]

    class Stop(Exception):
        pass

    def stop(done: int, total: int) -> None:
        if done == 5:
            raise Stop

    with pytest.raises(Stop):
        pick_initial_frames(toy_clip, 6, progress=stop)
