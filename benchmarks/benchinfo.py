"""What every benchmark prints about the machine it ran on: CPU model, cores, memory, torch version,
date, and the load average (1, 5, 15 min) at its start and end, so that a figure can be read
against what else the machine was doing. Imported by the scripts in this folder (no torch import)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
from importlib.metadata import PackageNotFoundError, version


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else what platform knows)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gb() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    return float("nan")


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages, as /proc/loadavg has them."""
    try:
        with open("/proc/loadavg") as f:
            return ", ".join(f.read().split()[:3])
    except OSError:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def machine(threads: int | None = None) -> str:
    """One line: CPU, cores, memory, GPU (none), Python and torch versions, threads, date."""
    line = (
        f"{cpu_model()}, {os.cpu_count()} cores, {memory_gb():.1f} GB RAM; Python {platform.python_version()}, "
        f"torch {package_version('torch')}"
    )
    if threads is not None:
        line += f", {threads} threads"
    return line + f"; {dt.date.today().isoformat()}"


class LoadAverages:
    """Records the load average when made and on ``end()``; ``line()`` says both."""

    def __init__(self) -> None:
        self.start, self.finish = loadavg(), None

    def start_line(self) -> str:
        return f"load average (1, 5, 15 min) at the start: {self.start}"

    def end(self) -> str:
        self.finish = loadavg()
        return self.line()

    def line(self) -> str:
        end = self.finish if self.finish is not None else loadavg()
        return f"load average (1, 5, 15 min): {self.start} at the start, {end} at the end"


def mean_sd(values: list[float], digits: int = 1) -> str:
    """Mean ± SD over seeds (NaN left out; one value: itself; none: a dash)."""
    values = [v for v in values if v == v]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"
