"""FiftyOne servers started on demand, one per (user, project): a FiftyOne server keeps one view
state for every browser connected to it, so two users never share one. Each runs ``python -m
fiftyone.server.main`` on 127.0.0.1 as the project's MongoDB user, seeing only the project's
database; one unused for ``idle_s`` is stopped."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from app.fiftyone.mongo import MongoServer
from worker.fiftyone_db import fiftyone_env
from worker.supervisor import stop_processes

log = logging.getLogger(__name__)
READY_TIMEOUT_S = 60
STOP_GRACE_S = 10.0


class FiftyOneDown(Exception):
    """A FiftyOne server could not be started; the message says why and what to do."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class FiftyOneServer:
    port: int
    process: subprocess.Popen
    log_file: Path
    last_used: float = field(default_factory=time.monotonic)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/fiftyone", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False


class FiftyOneServers:
    """The running servers by (user id, project id); ``folder`` holds their logs."""

    def __init__(self, mongo: MongoServer, folder: Path, idle_s: float) -> None:
        self.mongo, self.folder, self.idle_s = mongo, folder, idle_s
        self._servers: dict[tuple[int, int], FiftyOneServer] = {}
        self._locks: dict[tuple[int, int], threading.Lock] = {}
        self._guard = threading.Lock()

    def server(self, user_id: int, project_id: int) -> FiftyOneServer:
        """The user's server of the project, started (seconds) when there is none or it died."""
        key = (user_id, project_id)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            running = self._servers.get(key)
            if running is None or running.process.poll() is not None:
                running = self._servers[key] = self._start(user_id, project_id)
            running.last_used = time.monotonic()
            return running

    def _start(self, user_id: int, project_id: int) -> FiftyOneServer:
        self.mongo.ensure_project_user(project_id)
        folder = self.mongo.folder
        (folder / "no-plugins").mkdir(parents=True, exist_ok=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        log_file = self.folder / f"server-u{user_id}-p{project_id}.log"
        port = _free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("POSECLOUD_", "FIFTYONE_"))},
            **fiftyone_env(folder, self.mongo.host, self.mongo.port, project_id),
        }
        with log_file.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "fiftyone.server.main", "--address", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = FiftyOneServer(port, process, log_file)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not server.healthy():
            if process.poll() is not None or time.monotonic() > deadline:
                stop_processes([process], signal.SIGTERM, STOP_GRACE_S)
                raise FiftyOneDown(
                    f"the FiftyOne server of project {project_id} did not start; see {log_file} "
                    "(is MongoDB up? `posecloud up` starts it)"
                )
            time.sleep(0.2)
        log.info("FiftyOne server for user %d, project %d on port %d", user_id, project_id, port)
        return server

    def stop_idle(self) -> list[tuple[int, int]]:
        """Stop the servers unused for ``idle_s``; returns their keys."""
        now = time.monotonic()
        with self._guard:
            idle = [k for k, s in self._servers.items() if now - s.last_used > self.idle_s]
            stopped = [self._servers.pop(k) for k in idle]
        stop_processes([s.process for s in stopped], signal.SIGTERM, STOP_GRACE_S)
        return idle

    def stop_all(self) -> None:
        with self._guard:
            stopped, self._servers = list(self._servers.values()), {}
        stop_processes([s.process for s in stopped], signal.SIGTERM, STOP_GRACE_S)

    def running(self) -> list[tuple[int, int]]:
        return [k for k, s in self._servers.items() if s.process.poll() is None]


def keep_stopping_idle(servers: FiftyOneServers, every_s: float, stop: threading.Event) -> threading.Thread:
    """A thread that stops idle servers every ``every_s`` until ``stop``; all of them at the end."""

    def loop() -> None:
        while not stop.wait(every_s):
            for user_id, project_id in servers.stop_idle():
                log.info("stopped the idle FiftyOne server of user %d, project %d", user_id, project_id)
        servers.stop_all()

    thread = threading.Thread(target=loop, daemon=True, name="fiftyone-idle")
    thread.start()
    return thread
