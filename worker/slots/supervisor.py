"""``posecloud worker``: one Celery process per slot (one per GPU, or N sharing the CPU), restarted
if it dies, all stopped together on Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

log = logging.getLogger("posecloud.worker")
RESTART_DELAY_S = 2.0
STOP_GRACE_S = 10.0


@dataclass
class Slot:
    name: str
    env: dict[str, str]
    process: subprocess.Popen | None = None


def detect_gpus() -> list[str]:
    """Indices of the CUDA GPUs this machine has (none without a driver)."""
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def plan_slots(gpus: list[str] | None, cpu_slots: int, cores: int | None = None) -> list[Slot]:
    """One slot per GPU (CUDA_VISIBLE_DEVICES), or ``cpu_slots`` slots splitting the CPU cores."""
    host = socket.gethostname()
    if gpus:
        return [Slot(f"gpu{g}@{host}", {"CUDA_VISIBLE_DEVICES": g}) for g in gpus]
    threads = str(max(1, (cores or os.cpu_count() or 1) // cpu_slots))
    return [
        Slot(
            f"cpu{i}@{host}",
            {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads},
        )
        for i in range(cpu_slots)
    ]


def _start(slot: Slot, loglevel: str) -> None:
    env = {**os.environ, **slot.env, "POSECLOUD_SLOT_NAME": slot.name}
    command = [
        sys.executable, "-m", "celery", "-A", "worker.slots.slot", "worker", "--pool", "solo",
        "--hostname", slot.name, "--loglevel", loglevel, "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    slot.process = subprocess.Popen(command, env=env)
    log.info("started %s (pid %d)", slot.name, slot.process.pid)


def catch_stop_signals() -> threading.Event:
    """An event set by Ctrl-C (SIGINT) or SIGTERM, instead of the default abrupt exit."""
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stopping.set())
    return stopping


def stop_processes(processes: list[subprocess.Popen], signum: int, grace_s: float) -> None:
    """Send ``signum`` to the processes still running; kill those not gone after ``grace_s``."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.send_signal(signum)
    deadline = time.monotonic() + grace_s
    for process in running:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_slots(slots: list[Slot], loglevel: str = "INFO") -> int:
    """Run the slots until a signal arrives; a slot that exits is restarted after a short pause."""
    stopping = catch_stop_signals()
    for slot in slots:
        _start(slot, loglevel)
    while not stopping.wait(0.5):
        for slot in slots:
            code = slot.process.poll()
            if code is not None and not stopping.is_set():
                log.warning("%s exited with code %s; restarting it (its job resumes)", slot.name, code)
                time.sleep(RESTART_DELAY_S)
                _start(slot, loglevel)
    stop_slots(slots)
    return 0


def stop_slots(slots: list[Slot]) -> None:
    """Stop every slot at once (Celery's cold shutdown, SIGQUIT: do not wait for a long training);
    a running job is handed back to the queue and resumed by the next worker."""
    stop_processes([s.process for s in slots if s.process], signal.SIGQUIT, STOP_GRACE_S)
