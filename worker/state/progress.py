"""A job's progress: the one shape every kind of job reports, the service returns and the pages show.

A report says how far the job's current stage is (``done`` of ``total`` ``unit``, in words a
scientist reads: "training · 12.4/300 epochs") and when it should end (``eta_s``). The ETA is
estimated here only (``EtaClock``), from the rate since the stage's first report of this attempt,
and never beyond a training's time limit. A parent job that has not reported itself (an ensemble's
training group; a smoothing or active-selection job waiting for its members' predictions) reads as
its members' aggregate (``members_progress``; ``worker.state.records.job_progress``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Unit = Literal["epochs", "frames", "images", "keypoints", "models", "samples", "files"]


class EpochLosses(BaseModel):
    """The losses logged at the end of one training epoch (for the loss curves)."""

    model_config = ConfigDict(extra="forbid")

    epoch: int = Field(ge=1, description="counted from 1")
    step: int = Field(ge=0, description="the training step the epoch ended at")
    losses: dict[str, float] = Field(description="each loss term (and error) by its logged name")


class TrainingLosses(BaseModel):
    """A training's losses: the latest values and one entry per finished epoch."""

    model_config = ConfigDict(extra="forbid")

    epoch: int = Field(ge=0, description="the epoch in progress, from 1 (when ended: the last one done)")
    latest: dict[str, float] = Field(description="the latest value of each loss term (and error)")
    history: list[EpochLosses] = Field(description="one entry per finished epoch, in order")


class JobProgress(BaseModel):
    """How far a job is: ``done`` of ``total`` ``unit`` of its current ``stage``, and its ETA."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: str = Field(min_length=1, description='what the job is doing, e.g. "training", "smoothing"')
    done: float = Field(ge=0, description="how much of the stage is done, in ``unit``")
    total: float | None = Field(ge=0, description="the stage's size in ``unit``; None when unknown")
    unit: Unit
    eta_s: float | None = Field(
        default=None, ge=0, description="seconds until the stage ends; None until it can be estimated"
    )
    losses: TrainingLosses | None = Field(default=None, description="a training's losses")

    @property
    def fraction(self) -> float | None:
        """``done / total``, within 0..1; None when the total is unknown."""
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


@dataclass
class EtaClock:
    """Builds an attempt's reports: the ETA of each from the rate since the first report of its stage
    (a stage ends when its words, unit or total change), capped by ``limit_s`` (a training's
    ``max_minutes``) counted from the attempt's start."""

    limit_s: float | None = None
    clock: Callable[[], float] = time.monotonic
    started_s: float = field(init=False)
    _stage: tuple | None = field(default=None, init=False)
    _stage_start: tuple[float, float] = field(default=(0.0, 0.0), init=False)  # (seconds, done)

    def __post_init__(self) -> None:
        self.started_s = self.clock()

    def report(
        self, stage: str, done: float, total: float | None, unit: Unit, losses: TrainingLosses | None = None
    ) -> JobProgress:
        now = self.clock()
        if self._stage != (stage, unit, total):
            self._stage, self._stage_start = (stage, unit, total), (now, done)
        return JobProgress(
            stage=stage, done=done, total=total, unit=unit, eta_s=self._eta(now, done, total), losses=losses
        )

    def _eta(self, now: float, done: float, total: float | None) -> float | None:
        if total is None:
            return None
        if done >= total:
            return 0.0
        since_s, since_done = self._stage_start
        if done <= since_done or now <= since_s:
            return None
        eta = (total - done) * (now - since_s) / (done - since_done)
        if self.limit_s is not None:
            eta = min(eta, max(0.0, self.limit_s - (now - self.started_s)))
        return round(eta, 1)


Member = tuple[str, JobProgress | None]
"""A member job's state and its own latest report (None before its first)."""


def members_progress(members: list[Member]) -> JobProgress:
    """A parent's progress from its members': how many models are done (a running member counts
    its fraction), what the running ones do ("starting" before their first report), and the
    slowest running member's ETA (None while one has none)."""
    done = sum(1.0 for state, _ in members if state == "succeeded")
    running = [progress for state, progress in members if state == "running"]
    done += sum(p.fraction or 0.0 for p in running if p is not None)
    etas = [p.eta_s for p in running if p is not None and p.eta_s is not None]
    finished = all(state in ("succeeded", "failed", "cancelled") for state, _ in members)
    stages = ", ".join(dict.fromkeys("starting" if p is None else p.stage for p in running))
    return JobProgress(
        stage=stages or ("members finished" if finished else "waiting for members"),
        done=round(done, 3),
        total=len(members),
        unit="models",
        eta_s=max(etas) if running and len(etas) == len(running) else None,
    )
