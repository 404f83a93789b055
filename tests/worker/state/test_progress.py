"""The job-progress contract on its own: what it refuses, the ETA (rate per stage, a training's time
limit) and a parent's aggregate of its members."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from worker.state.progress import EtaClock, JobProgress, members_progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_report_of_another_shape_is_refused() -> None:
    with pytest.raises(ValidationError, match="unit"):
        JobProgress(stage="smoothing", done=1, total=17, unit="kps")
    with pytest.raises(ValidationError, match="frames_read"):
        JobProgress.model_validate({"stage": "x", "done": 1, "total": 2, "unit": "frames", "frames_read": 1})
    with pytest.raises(ValidationError, match="done"):
        JobProgress(stage="training", done=-1, total=2, unit="epochs")
    with pytest.raises(ValidationError, match="stage"):
        JobProgress(stage="", done=0, total=2, unit="epochs")


def test_the_eta_comes_from_the_rate_since_the_stage_began() -> None:
    time = FakeClock()
    clock = EtaClock(clock=time)
    assert clock.report("reading the video", 0, 100, "frames").eta_s is None  # no rate yet
    time.now += 10
    assert clock.report("reading the video", 20, 100, "frames").eta_s == 40.0  # 2 frames/s, 80 left
    time.now += 10
    assert clock.report("saving frames", 1, 4, "frames").eta_s is None  # a new stage: measured anew
    time.now += 5
    assert clock.report("saving frames", 2, 4, "frames").eta_s == 10.0
    assert clock.report("saving frames", 4, 4, "frames").eta_s == 0.0
    assert clock.report("fetching files", 0, None, "files").eta_s is None


def test_a_resumed_stage_is_timed_from_where_it_resumed_and_capped_by_the_time_limit() -> None:
    time = FakeClock()
    clock = EtaClock(limit_s=120, clock=time)
    time.now += 30  # setting up the attempt
    clock.report("training", 150, 300, "epochs")  # resumed at epoch 150
    time.now += 10
    assert clock.report("training", 160, 300, "epochs").eta_s == 80.0  # 1 epoch/s, not 160 in 40 s
    time.now += 10
    assert clock.report("training", 161, 300, "epochs").eta_s == 70.0  # 120 s allowed, 50 s spent


def test_a_parent_is_its_members_aggregate() -> None:
    half = JobProgress(stage="training", done=1, total=2, unit="epochs", eta_s=30)
    quarter = JobProgress(stage="training", done=0.5, total=2, unit="epochs", eta_s=90)
    running = members_progress(
        [("succeeded", None), ("running", half), ("running", quarter), ("queued", None)]
    )
    assert running == JobProgress(stage="training", done=1.75, total=4, unit="models", eta_s=90)
    waiting = members_progress([("succeeded", None), ("queued", None)])
    assert (waiting.stage, waiting.done, waiting.eta_s) == ("waiting for members", 1, None)
    ended = members_progress([("succeeded", None), ("failed", half)])
    assert (ended.stage, ended.done, ended.total) == ("members finished", 1, 2)
