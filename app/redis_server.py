"""Start a private ``redis-server`` (nothing kept on disk) when no Redis is reachable."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis

from core.errors import ConfigError


def reachable(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


class RedisServer:
    """``redis-server`` on ``port`` of 127.0.0.1; restartable on the same port."""

    def __init__(self, port: int, folder: Path) -> None:
        self.port, self.folder = port, folder
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ConfigError(
                "redis-server is not installed: run `make install` or `apt-get install redis-server`"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.process = subprocess.Popen(command, cwd=self.folder, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while not reachable(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise ConfigError(f"redis-server did not start on port {self.port} (is the port taken?)")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def restart(self, down_s: float = 0.0) -> None:
        """Stop (losing every queued message, as a restart does) and start again on the same port."""
        self.stop()
        time.sleep(down_s)
        self.start()
