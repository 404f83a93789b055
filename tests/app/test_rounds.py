"""The labeling rounds' arithmetic: the budget spread across videos, the fine-tuning schedule and
the stop hint."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.rounds import FLAT_IMPROVEMENT, RoundStatus, shorter_schedule, split_budget, stop_hint


@given(
    budget=st.integers(1, 500),
    frames=st.dictionaries(st.integers(1, 50), st.integers(1, 10_000), min_size=1, max_size=8),
)
def test_the_budget_is_spread_by_length_and_never_exceeded(budget: int, frames: dict[int, int]) -> None:
    share = split_budget(budget, frames)
    assert sum(share.values()) <= budget
    assert all(1 <= n <= frames[v] for v, n in share.items())
    if not any(share.get(v) == n for v, n in frames.items()):  # no video ran out of frames
        assert sum(share.values()) == budget
        total = sum(frames.values())
        for v, n in share.items():  # its share by length, but for the one frame every video gets
            assert abs(n - budget * frames[v] / total) <= len(frames)
    if budget >= len(frames):
        assert set(share) == set(frames)  # every video gets a frame while the budget lasts


def test_the_budget_follows_the_videos_lengths() -> None:
    assert split_budget(10, {1: 3000, 2: 1000}) == {1: 7, 2: 3}
    assert split_budget(2, {1: 100, 2: 50, 3: 10}) == {1: 1, 2: 1}  # the longest first
    assert split_budget(5, {1: 2}) == {1: 2}  # no more than the video has


def test_fine_tuning_halves_the_schedule() -> None:
    assert shorter_schedule(
        {"epochs": 300, "lr_milestones": [150, 200, 250], "freeze_backbone_epochs": 20}
    ) == {
        "epochs": 150,
        "lr_milestones": [75, 100, 125],
        "freeze_backbone_epochs": 0,
    }
    assert shorter_schedule({"epochs": 2, "lr_milestones": [1]}) == {
        "epochs": 1,
        "lr_milestones": [],
        "freeze_backbone_epochs": 0,
    }


STATUS = RoundStatus("trained", [], [], None, [], test_error=10.0, labeled_frames=20)


@pytest.mark.parametrize(
    ("after", "frames", "hint"),
    [
        (9.0, 30, False),  # 10 % better: keep going
        (10.0 * (1 - FLAT_IMPROVEMENT / 2), 30, True),  # flat
        (11.0, 30, True),  # worse
        (10.0, 20, False),  # no more labels: not a round's verdict
    ],
)
def test_the_stop_hint_comes_when_test_error_flattens(after: float, frames: int, hint: bool) -> None:
    later = replace(STATUS, test_error=after, labeled_frames=frames)
    said = stop_hint([(1, STATUS), (2, later)])
    assert (said is not None) == hint
    if hint:
        assert "from round 1 to round 2" in said and "20 to 30" in said


def test_no_stop_hint_before_two_rounds_have_test_errors() -> None:
    assert stop_hint([(1, STATUS)]) is None
    assert stop_hint([(1, STATUS), (2, replace(STATUS, test_error=None, labeled_frames=30))]) is None
