"""A server process the service runs beside itself on 127.0.0.1 (Label Studio, the Streamlit UI):
started in a session of its own so that stopping it reaches its children too, its output in a log
file, ready once its health URL answers 200."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from core.errors import ConfigError


class LocalServer:
    """``command`` run in ``cwd`` with ``env``, logging to ``log``; ``health_url`` says when it is up."""

    def __init__(self, name: str, health_url: str, log: Path) -> None:
        self.name, self.health_url, self.log = name, health_url, log
        self.process: subprocess.Popen | None = None

    def launch(self, command: list[str], env: dict[str, str], cwd: Path) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.health_url, timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.healthy():
            if self.process is not None and self.process.poll() is not None:
                raise ConfigError(f"{self.name} exited while starting; see {self.log}")
            if time.monotonic() > deadline:
                raise ConfigError(f"{self.name} did not answer within {timeout_s:.0f} s; see {self.log}")
            time.sleep(0.3)

    def stop(self, grace_s: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def serve_in_foreground(self) -> int:
        """Wait on the started server until it exits or SIGTERM / SIGINT (a container's stop) stops
        it; returns its exit status."""

        def interrupt(_signum: int, _frame: object) -> None:
            raise KeyboardInterrupt  # handled after the wait below, which holds the process's wait lock

        signal.signal(signal.SIGTERM, interrupt)
        try:
            return self.process.wait()
        except KeyboardInterrupt:
            self.stop()
            return 0
