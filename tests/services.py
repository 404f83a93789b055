"""Real services the tests start: a private Redis server (restartable on the same port)."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

from app.redis_server import RedisServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def private_redis(folder: Path) -> RedisServer:
    """A started Redis on a free port, for one test session."""
    server = RedisServer(free_port(), folder)
    server.start()
    return server


class PrivatePostgres:
    """A PostgreSQL server of the test's own (initdb in ``folder``, run as the ``postgres`` system user
    since the server refuses root), which a test may stop and start again on the same port."""

    BIN = Path("/usr/lib/postgresql/15/bin")

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.url = f"postgresql+psycopg://posecloud@127.0.0.1:{self.port}/postgres"
        self.running = False
        folder.mkdir(parents=True, exist_ok=True)
        shutil.chown(folder, "postgres")
        self._as_postgres("initdb", "-D", str(folder / "data"), "-A", "trust", "-U", "posecloud")

    def _as_postgres(self, tool: str, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.BIN / tool), *args], check=True, capture_output=True
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        log = str(self.folder / "server.log")  # the server must not hold our output pipes open
        self._as_postgres("pg_ctl", "-D", str(self.folder / "data"), "-l", log, "-o", options, "-w", "start")
        self.running = True

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")
        self.running = False
