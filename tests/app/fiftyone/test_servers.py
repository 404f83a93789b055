"""FiftyOne servers on demand: one per (user, project), reused while in use, listening on 127.0.0.1
only, stopped once idle and started again when asked for."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from app.fiftyone.mongo import MongoServer
from app.fiftyone.servers import FiftyOneServers
from tests.app.fiftyone.conftest import Toy


def other_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    found = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    return next((a for a in found if "." in a and not a.startswith("127.")), None)


def test_idle_servers_are_stopped_and_started_again_on_demand(
    toy: Toy, mongo: MongoServer, tmp_path: Path
) -> None:
    servers = FiftyOneServers(mongo, tmp_path, idle_s=1.0)
    first = servers.server(1, toy.project)
    assert first.healthy() and servers.server(1, toy.project) is first  # reused while in use
    address = other_address()
    if address is not None:
        with pytest.raises(OSError):
            socket.create_connection((address, first.port), timeout=2).close()
    assert servers.stop_idle() == []  # just used
    time.sleep(1.2)
    assert servers.stop_idle() == [(1, toy.project)]
    assert first.process.poll() is not None and not first.healthy()
    again = servers.server(1, toy.project)
    assert again.healthy() and again.process.pid != first.process.pid
    servers.stop_all()
    assert again.process.poll() is not None and servers.running() == []
