"""FiftyOne servers on demand: one per (user, project), reused while in use, listening on 127.0.0.1
only, stopped once idle and started again when asked for; confined (Landlock) so that FiftyOne's own
file-reading routes cannot reach the data root, unconfined with a warning where there is no Landlock."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app import sandbox
from app.fiftyone import servers as servers_module
from app.fiftyone.mongo import MongoServer
from app.fiftyone.servers import FiftyOneServer, FiftyOneServers
from tests.app.fiftyone.conftest import Toy
from tests.testdata import REPO


def other_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    found = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    return next((a for a in found if "." in a and not a.startswith("127.")), None)


def test_idle_servers_are_stopped_and_started_again_on_demand(
    toy: Toy, mongo: MongoServer, tmp_path: Path
) -> None:
    servers = FiftyOneServers(mongo, tmp_path, idle_s=1.0)
    first = servers.server(1, toy.project)
    assert first.healthy() and servers.server(1, toy.project) == first  # reused while in use
    address = other_address()
    if address is not None:
        with pytest.raises(OSError):
            socket.create_connection((address, first.port), timeout=2).close()
    assert servers.stop_idle() == []  # just used
    time.sleep(1.2)
    assert servers.stop_idle() == [(1, toy.project)]
    assert not first.alive() and not first.healthy()
    again = servers.server(1, toy.project)
    assert again.healthy() and again.pid != first.pid
    servers.stop_all()
    assert not again.alive() and servers.running() == []


def test_the_service_s_processes_share_each_server_and_its_starter_stops_it_when_idle(
    toy: Toy, mongo: MongoServer, tmp_path: Path
) -> None:
    """``posecloud api --workers 2``: a user's next request may reach the other process."""
    one, other = (FiftyOneServers(mongo, tmp_path, idle_s=1.5) for _ in range(2))
    started = one.server(1, toy.project)
    assert other.server(1, toy.project) == started and other.running() == []  # found, not started again
    time.sleep(1.0)
    other.server(1, toy.project)  # used through the other process: not idle for the one that started it
    time.sleep(0.8)
    assert one.stop_idle() == [] and other.stop_idle() == [] and started.healthy()
    time.sleep(1.6)
    assert other.stop_idle() == [] and started.alive()  # only the process that started it stops it
    assert one.stop_idle() == [(1, toy.project)] and not started.alive()
    assert other.server(1, toy.project).pid != started.pid  # the other process starts a new one
    assert other.running() == [(1, toy.project)]
    other.stop_all()


ORPHAN_MAKER = """
import sys, time
from pathlib import Path
from app.fiftyone.mongo import MongoServer
from app.fiftyone.servers import FiftyOneServers
mongo = MongoServer(Path(sys.argv[1]), int(sys.argv[2]))
print(FiftyOneServers(mongo, Path(sys.argv[3]), idle_s=600).server(1, int(sys.argv[4])).pid, flush=True)
time.sleep(600)
"""


def orphan_server(mongo: MongoServer, folder: Path, project: int) -> int:
    """The pid of a server whose starter (another service process) was killed before it stopped it."""
    starter = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_MAKER, str(mongo.folder), str(mongo.port), str(folder), str(project)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    pid = int(starter.stdout.readline())
    starter.kill()
    starter.wait()
    return pid


def test_a_server_whose_starter_was_killed_is_adopted_and_stopped_once_idle(
    toy: Toy, mongo: MongoServer, tmp_path: Path, caplog
) -> None:
    """A service process killed (OOM, crash) leaves its servers running: the next process adopts
    them, through a request or its idle round, and stops them once idle."""
    orphan = orphan_server(mongo, tmp_path, toy.project)
    servers = FiftyOneServers(mongo, tmp_path, idle_s=2.0)
    with caplog.at_level(logging.WARNING, logger="app.fiftyone.servers"):
        found = servers.server(1, toy.project)  # a request: the orphan serves it, not a new server
    assert found.pid == orphan and found.healthy() and servers.running() == [(1, toy.project)]
    assert f"adopted the FiftyOne server of user 1, project {toy.project} (pid {orphan})" in caplog.text
    assert servers.stop_idle() == []  # just used
    time.sleep(2.2)
    assert servers.stop_idle() == [(1, toy.project)] and not found.alive()

    unasked = orphan_server(mongo, tmp_path, toy.project)  # nobody asks for this one again
    time.sleep(2.2)
    other = FiftyOneServers(mongo, tmp_path, idle_s=2.0)
    assert other.stop_idle() == [(1, toy.project)]  # found by the idle round, idle since its start
    assert servers_module._start_time(unasked) is None  # ended
    assert not (tmp_path / "running" / f"u1-p{toy.project}.json").exists()


ABI = sandbox.landlock_abi()


def media(server: FiftyOneServer, path: Path) -> bytes | None:
    """What FiftyOne's own ``/media`` route serves for ``path``, asked on the server's port (not through
    posecloud's proxy, which refuses such paths); None when it fails."""
    try:
        resp = httpx.get(f"{server.url}/media", params={"filepath": str(path)}, timeout=30)
    except httpx.HTTPError:  # FiftyOne announces the file's length, then cannot read it
        return None
    return resp.content if resp.status_code == 200 else None


@pytest.mark.skipif(not ABI, reason="this kernel has no Landlock: FiftyOne servers run unconfined")
def test_a_server_cannot_read_the_data_root_nor_the_service_s_environment(
    mongo: MongoServer, fo_root: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    secrets = mongo.folder / "secrets.json"  # every project user's password derives from it
    project_file = fo_root / "storage" / "projects" / "9001" / "data" / "CollectedData.csv"
    project_file.parent.mkdir(parents=True, exist_ok=True)
    project_file.write_text("scorer,me\n")
    outside = tmp_path_factory.mktemp("outside-the-data-root") / "frame.txt"
    outside.write_text("a frame")
    servers = FiftyOneServers(mongo, tmp_path / "servers", idle_s=60.0)
    try:
        confined = servers.server(1, 9001)
        line = servers.command(1, 9001, confined.port)
        assert line[1:3] == ["-m", "app.sandbox"] and ["--deny", str(fo_root)] in pairs(line)
        ran = Path(f"/proc/{confined.pid}/cmdline").read_text().split("\0")
        assert ran[1:4] == ["-P", "-m", "fiftyone.server.main"]  # what the sandbox ran, confined
        assert media(confined, outside) == b"a frame"  # the route works...
        assert media(confined, secrets) is None  # ...but not in the data root
        assert media(confined, project_file) is None
        assert media(confined, tmp_path / "servers" / "server-u1-p9001.log") is None  # nor the logs
        environment = Path(f"/proc/{confined.pid}/environ").read_bytes().split(b"\0")
        assert not any(v.startswith(b"POSECLOUD_") for v in environment)
        assert f"HOME={servers.home(1, 9001)}".encode() in environment
        assert "sandbox: Landlock ABI" in confined.log_file.read_text()
        # the same server unconfined hands the secrets out: what the sandbox stands in the way of
        servers.landlock_abi = 0
        unconfined = servers.server(2, 9001)
        assert media(unconfined, secrets) == secrets.read_bytes()
    finally:
        servers.stop_all()


def pairs(args: list[str]) -> list[list[str]]:
    return [args[i : i + 2] for i in range(len(args) - 1)]


def test_without_landlock_servers_start_unconfined_and_a_warning_says_so_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(servers_module.sandbox, "landlock_abi", lambda: 0)
    monkeypatch.setattr(servers_module, "_warned_unconfined", False)
    mongo = MongoServer(tmp_path / "data" / "mongo", 27017)  # not started: nothing here needs it
    with caplog.at_level(logging.WARNING, logger=servers_module.__name__):
        first = FiftyOneServers(mongo, tmp_path / "data" / "fiftyone", idle_s=60.0)
        FiftyOneServers(mongo, tmp_path / "data" / "fiftyone", idle_s=60.0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unconfined" in warnings[0] and "secrets" in warnings[0]
    assert first.confinement.startswith("none")
    assert first.command(1, 2, 5151)[1:4] == ["-P", "-m", "fiftyone.server.main"]


@pytest.mark.skipif(not ABI, reason="this kernel has no Landlock: FiftyOne servers run unconfined")
def test_with_landlock_the_server_runs_through_the_sandbox(tmp_path: Path) -> None:
    data = tmp_path / "data"
    mongo = MongoServer(data / "mongo", 27017)
    servers = FiftyOneServers(mongo, data / "fiftyone", idle_s=60.0, deny=[tmp_path / "labelstudio"])
    assert servers.confinement == f"Landlock ABI {ABI}"
    line = servers.command(1, 2, 5151)
    split = line.index("--")
    policy, command = sandbox._parse(line[3:])
    assert command == line[split + 1 :] and command[1:4] == ["-P", "-m", "fiftyone.server.main"]
    assert {data, data / "mongo", data / "fiftyone", tmp_path / "labelstudio"} <= set(policy.deny)
    assert policy.write == (servers.home(1, 2),) and policy.hide_processes
    assert policy.bind_tcp == (5151,) and policy.connect_tcp == (27017,)
