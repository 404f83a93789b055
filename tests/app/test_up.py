"""``posecloud up`` starts Redis, the API and a worker with the example project, and Ctrl-C stops all."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from app.redis_server import reachable
from app.sandbox import landlock_abi
from tests.services import free_port
from tests.testdata import REPO


def _get(url: str, token: str | None = None) -> dict | list:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as resp:
        return json.loads(resp.read())


def test_up_serves_the_example_project_and_stops_cleanly(tmp_path: Path) -> None:
    port, redis_port, ls_port, mongo_port, ui_port = (free_port() for _ in range(5))
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    env = {**os.environ, "POSECLOUD_DATA_ROOT": str(tmp_path / "data"), "POSECLOUD_REDIS_URL": redis_url}
    command = [sys.executable, "-m", "app.cli", "up", "--port", str(port), "--labelstudio-port", str(ls_port)]
    command += ["--mongo-port", str(mongo_port), "--ui-port", str(ui_port)]
    up = subprocess.Popen(  # a group of its own, as in a terminal: Ctrl-C goes to the whole group
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        lines = []
        deadline = time.monotonic() + 400  # Label Studio's first start runs its migrations
        while not any("Ctrl-C stops everything" in line for line in lines):
            assert up.poll() is None and time.monotonic() < deadline, "".join(lines)
            lines.append(up.stdout.readline())
        assert reachable(redis_url), "up should start its own Redis when none is reachable"
        health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30).read())
        assert health["parts"]["labelstudio"]["state"] == "up", health
        assert health["parts"]["fiftyone"]["state"] == "up", health
        confined = "confined by Landlock" if landlock_abi() else "confined by none"
        assert confined in health["parts"]["fiftyone"]["detail"], health
        socket.create_connection(("127.0.0.1", mongo_port), timeout=2).close()  # FiftyOne's MongoDB is up
        assert not any("posecloud-demo" in line for line in lines), "up must not print a password"
        base = f"http://127.0.0.1:{port}"
        form = urllib.parse.urlencode({"username": "demo", "password": "posecloud-demo"}).encode()
        with urllib.request.urlopen(f"{base}/auth/login", data=form, timeout=30) as resp:
            token = json.loads(resp.read())["access_token"]
        (project,) = _get(f"{base}/projects", token)
        assert project["name"] == "mirror-mouse" and len(project["keypoints"]) == 17
        # the front end answers through the API's port, to the signed-in browser
        front = urllib.request.Request(
            f"{base}/ui/_stcore/health", headers={"Cookie": f"posecloud_session={token}"}
        )
        with urllib.request.urlopen(front, timeout=30) as resp:
            assert resp.read() == b"ok"
        assert any(f"open http://127.0.0.1:{port}/ in a browser" in line for line in lines)
        (video,) = _get(f"{base}/projects/{project['id']}/videos", token)
        assert video["frames"] == 994
        # the worker is running: the upload's transcode job finishes
        deadline = time.monotonic() + 120
        while (job := _get(f"{base}/projects/{project['id']}/jobs", token)[0])["state"] != "succeeded":
            assert job["state"] in ("queued", "running") and time.monotonic() < deadline, job
            time.sleep(0.5)
        # the demo's FiftyOne server of the project, which the API starts when the page is opened
        page = urllib.request.Request(
            f"{base}/fiftyone/{project['id']}/?proxy=/fiftyone/{project['id']}",
            headers={"Cookie": f"posecloud_session={token}"},
        )
        with urllib.request.urlopen(page, timeout=60) as resp:
            assert resp.status == 200
        assert _fiftyone_servers(mongo_port), "opening the page should have started a FiftyOne server"
    finally:
        os.killpg(up.pid, signal.SIGINT)  # Ctrl-C in the terminal
        assert up.wait(60) == 0
    assert _fiftyone_servers(mongo_port) == []  # stopped by the API before it exited
    assert not reachable(redis_url)
    with pytest.raises(OSError):  # Label Studio stopped with the rest
        socket.create_connection(("127.0.0.1", ls_port), timeout=2).close()
    with pytest.raises(OSError):  # and FiftyOne's MongoDB
        socket.create_connection(("127.0.0.1", mongo_port), timeout=2).close()
    with pytest.raises(OSError):  # and the front end
        socket.create_connection(("127.0.0.1", ui_port), timeout=2).close()
    children = subprocess.run(
        ["pgrep", "-f", f"--port {port}"], capture_output=True, text=True
    ).stdout.split()
    assert children == []


def test_up_refuses_the_default_demo_password_beyond_this_machine(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "POSECLOUD_DEMO_PASSWORD"}
    env["POSECLOUD_DATA_ROOT"] = str(tmp_path / "data")
    command = [sys.executable, "-m", "app.cli", "up", "--host", "0.0.0.0", "--port", str(free_port())]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "set POSECLOUD_DEMO_PASSWORD to a password of your own" in done.stderr
    assert not (tmp_path / "data").exists(), "nothing should have started"


def _fiftyone_servers(mongo_port: int) -> list[int]:
    """The running FiftyOne servers that use the MongoDB on ``mongo_port``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            running = b"fiftyone.server.main" in (proc / "cmdline").read_bytes()
            uses = f"127.0.0.1:{mongo_port}/".encode() in (proc / "environ").read_bytes()
        except OSError:  # not a process, or it ended
            continue
        if running and uses:
            found.append(int(proc.name))
    return found
