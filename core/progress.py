"""The progress of a long command on stderr: a live bar with rate and ETA on a terminal; in a log
(stderr not a terminal) a plain line every ``interval_s`` seconds or 10 % (at most one a second) and
one when a task ends, so that a log neither fills with redraws nor goes silent for minutes.

Commands turn the dict reports of the pipelines (``core.predict.pipeline.Progress``, the training's
``ProgressReporter``) into ``update(task, done, total, unit, info)`` calls; each task is one bar
(one video of one model, the smoothing, the training steps).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

LOG_INTERVAL_S = 10.0
LOG_MIN_GAP_S = 1.0


def format_duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class _Rate(ProgressColumn):
    """``12.3 frames/s``: the task's recent speed in its own unit."""

    def render(self, task: Task) -> Text:
        unit = task.fields["unit"]
        return Text(
            f"{task.speed:.1f} {unit}/s" if task.speed else f"? {unit}/s", style="progress.data.speed"
        )


class _Remaining(TimeRemainingColumn):
    """rich's time remaining, but never past the moment the task stops (``stops_at``)."""

    def render(self, task: Task) -> Text:
        stops_at = task.fields.get("stops_at")
        if stops_at is not None and not task.finished:
            left = max(0.0, stops_at - time.monotonic())
            if task.time_remaining is None or left < task.time_remaining:
                return Text(format_duration(left), style="progress.remaining")
        return super().render(task)


@dataclass
class _Logged:
    """What the plain log of one task remembers: where and when it started, and its last line."""

    start_s: float
    start_done: float
    last_line_s: float
    last_tenth: int
    finished: bool = False


class ProgressDisplay:
    """Shows the progress of one command's tasks on ``stream`` (default: stderr); use as a context
    manager, so that a terminal's live bars are closed (left on screen) when the command ends.

    Args:
        interval_s: in a log, the longest silence between two lines of a task still running.
        clock: seconds, for the log's rates and ETAs (tests pass a fake one).
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        interval_s: float = LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interval_s = interval_s
        self.clock = clock
        self._bars: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._logged: dict[str, _Logged] = {}
        if self.stream.isatty():
            self._bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[unit]}"),
                _Rate(),
                TextColumn("ETA"),
                _Remaining(),
                TextColumn("{task.fields[info]}"),
                console=Console(file=self.stream),
                # a command's output lines print above the bars when they share the terminal
                redirect_stdout=sys.stdout.isatty(),
            )

    def __enter__(self) -> ProgressDisplay:
        if self._bars is not None:
            self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bars is not None:
            self._bars.stop()

    def update(
        self, task: str, done: float, total: float, unit: str, info: str = "", stops_in_s: float | None = None
    ) -> None:
        """``task`` has done ``done`` of ``total`` ``unit`` (frames, steps, keypoints, files);
        ``info`` is shown after the ETA (e.g. the epoch and losses). ``stops_in_s``: the task stops
        by then whatever it has done (a training's ``max_minutes``), so its ETA is never later."""
        if self._bars is not None:
            stops_at = None if stops_in_s is None else time.monotonic() + stops_in_s
            if task not in self._tasks:
                self._tasks[task] = self._bars.add_task(
                    task, total=total, unit=unit, info=info, stops_at=stops_at
                )
            self._bars.update(self._tasks[task], completed=done, total=total, info=info, stops_at=stops_at)
            return
        self._log(task, done, total, unit, info, stops_in_s)

    def _log(
        self, task: str, done: float, total: float, unit: str, info: str, stops_in_s: float | None
    ) -> None:
        now = self.clock()
        state = self._logged.get(task)
        if state is None:
            state = self._logged[task] = _Logged(now, done, now, _tenth(done, total))
        finished = done >= total
        tenth = _tenth(done, total)
        since = now - state.last_line_s
        due = since >= self.interval_s or (tenth > state.last_tenth and since >= LOG_MIN_GAP_S)
        if state.finished or not (finished or due):
            return
        state.last_line_s, state.last_tenth, state.finished = now, tenth, finished
        elapsed = now - state.start_s
        rate = (done - state.start_done) / elapsed if elapsed > 0 else 0.0
        if finished:
            timing = f"done in {format_duration(elapsed)}"
        else:
            left = [(total - done) / rate] if rate > 0 else []
            left += [] if stops_in_s is None else [max(0.0, stops_in_s)]
            timing = f"ETA {format_duration(min(left)) if left else '?'}"
        percent = 100 * done / total if total else 100.0
        line = f"{task}: {done:g}/{total:g} {unit} ({percent:.0f}%), {rate:.1f} {unit}/s, {timing}"
        print(f"{line}, {info}" if info else line, file=self.stream, flush=True)


def _tenth(done: float, total: float) -> int:
    """Which tenth of the task ``done`` is in (0 to 10)."""
    return int(10 * done / total) if total else 10
