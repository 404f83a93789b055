"""Progress on stderr: plain lines every 10 % or 10 s in a log, a live bar with rate and ETA on a
terminal; training's reports shown as epoch, steps and losses."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from core.cli import _show_training
from core.progress import ProgressDisplay, format_duration


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_log_gets_a_line_per_tenth_or_ten_seconds_with_rate_and_eta():
    log, clock = io.StringIO(), Clock()
    display = ProgressDisplay(log, clock=clock)
    for done in range(0, 101):  # one frame a second: a line at each tenth
        clock.now = float(done)
        display.update("clip.mp4", done, 100, "frames")
    lines = log.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0] == "clip.mp4: 10/100 frames (10%), 1.0 frames/s, ETA 1m30s"
    assert lines[-1] == "clip.mp4: 100/100 frames (100%), 1.0 frames/s, done in 1m40s"
    display.update("clip.mp4", 100, 100, "frames")  # a finished task says so once
    assert len(log.getvalue().splitlines()) == 10


def test_a_slow_task_gets_a_line_every_ten_seconds_and_fast_steps_none_in_between():
    log, clock = io.StringIO(), Clock()
    display = ProgressDisplay(log, clock=clock)
    display.update("training", 0, 1000, "steps")
    for done in range(1, 31):  # a step every 2 s: 3 % after a minute
        clock.now = 2.0 * done
        display.update("training", done, 1000, "steps", "epoch 1/300")
    lines = log.getvalue().splitlines()
    assert len(lines) == 6
    assert lines[0] == "training: 5/1000 steps (0%), 0.5 steps/s, ETA 33m10s, epoch 1/300"
    fast, clock = io.StringIO(), Clock()
    display = ProgressDisplay(fast, clock=clock)
    for done in range(1, 101):  # everything within a second: the final line only
        clock.now = done / 200
        display.update("copying", done, 100, "files")
    assert fast.getvalue().splitlines() == ["copying: 100/100 files (100%), 200.0 files/s, done in 0s"]


def test_durations_read_as_minutes_and_hours():
    assert [format_duration(s) for s in (4.4, 65, 3600 + 7 * 60 + 20)] == ["4s", "1m05s", "1h07m"]


@contextmanager
def terminal() -> Iterator[tuple[io.TextIOWrapper, list[bytes]]]:
    """A pseudo-terminal: the file a program writes to, and what the terminal received."""
    master, slave = os.openpty()
    received: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            received.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    stream = open(slave, "w", encoding="utf-8", closefd=True)  # noqa: SIM115 - closed below
    try:
        yield stream, received
    finally:
        stream.close()
        reader.join(timeout=5)
        os.close(master)


def test_a_terminal_gets_a_live_bar_with_rate_and_eta():
    with terminal() as (stream, received):
        with ProgressDisplay(stream) as display:
            for done in range(0, 51):
                display.update("clip.mp4", done, 50, "frames")
        stream.flush()
    shown = b"".join(received).decode()
    assert "\x1b[" in shown and "━" in shown  # drawn with terminal codes
    assert "50/50" in shown and "frames/s" in shown and "ETA" in shown


def test_training_shows_the_epoch_the_steps_and_the_losses():
    log, clock = io.StringIO(), Clock()
    display = ProgressDisplay(log, clock=clock)
    report = {"epoch": 1, "epochs": 2, "step": 0, "total_steps": 24, "losses": {}, "history": []}
    _show_training(display, "training", None, report)
    clock.now = 12.0
    losses = {"train_loss": 0.01234, "val_loss": 0.5, "val_pixel_error": 7.0}
    _show_training(display, "training", None, {**report, "epoch": 2, "step": 12, "losses": losses})
    assert log.getvalue().splitlines() == [
        "training: 12/24 steps (50%), 1.0 steps/s, ETA 12s, epoch 2/2, train_loss 0.0123, val_loss 0.5"
    ]


def test_the_eta_is_never_past_the_moment_the_task_stops():
    """A training limited by ``max_minutes`` stops then, whatever its steps: its ETA says so."""
    log, clock = io.StringIO(), Clock()
    display = ProgressDisplay(log, clock=clock)
    for done in range(0, 11):  # one step a second of 1,000: 16m30s at this rate, but it stops in 2 minutes
        clock.now = float(done * 10)
        display.update("training", done * 10, 1000, "steps", stops_in_s=120 - clock.now)
    assert log.getvalue().splitlines()[0] == "training: 10/1000 steps (1%), 1.0 steps/s, ETA 1m50s"
    # a task ending before its limit keeps the ETA of its rate
    fast = io.StringIO()
    display = ProgressDisplay(fast, clock=clock)
    display.update("t", 0, 100, "steps", stops_in_s=600)
    clock.now += 10
    display.update("t", 50, 100, "steps", stops_in_s=590)
    assert fast.getvalue().splitlines()[-1] == "t: 50/100 steps (50%), 5.0 steps/s, ETA 10s"
