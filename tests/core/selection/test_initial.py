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
    with pytest.raises(VideoError, match="has 40 frames to pick from; cannot pick 41"):
        pick_initial_frames(toy_clip, 41)
    with pytest.raises(
        VideoError, match=r"has 38 frames to pick from \(2 labeled or picked already\); cannot pick 39"
    ):
        pick_initial_frames(toy_clip, 39, exclude=[3, 7, 99])


def test_frames_labeled_or_picked_before_are_not_picked_again(toy_clip) -> None:
    first = pick_initial_frames(toy_clip, 6)
    again = pick_initial_frames(toy_clip, 6, exclude=first)
    assert len(again) == 6 and not set(again) & set(first)
    # all but six taken: exactly those six are left, moving or not
    rest = pick_initial_frames(toy_clip, 6, exclude=set(range(40)) - {0, 1, 2, 20, 38, 39})
    assert rest == [0, 1, 2, 20, 38, 39]


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
