"""Real services the tests start: a private Redis server (restartable on the same port)."""

from __future__ import annotations

import socket
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
