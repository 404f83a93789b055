"""A real uvicorn server (``app.api.main.run``) streams a 200 MB upload without buffering it, and
serves from several processes (``--workers``) as one service."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from tests.testdata import TOY_VIDEO

TEST_VIDEO = TOY_VIDEO
REPO = Path(__file__).resolve().parents[3]
BODY_MB = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("VmHWM missing from /proc status")


@pytest.fixture
def server(request: pytest.FixtureRequest, settings: Settings) -> Iterator[tuple[str, subprocess.Popen]]:
    """The API served by ``run()`` in a child process configured through POSECLOUD_* variables, in
    ``request.param`` worker processes (1 unless parametrized)."""
    workers = getattr(request, "param", 1)
    port = _free_port()
    env = {
        **os.environ,
        "POSECLOUD_DATA_ROOT": str(settings.data_root),
        "POSECLOUD_DATABASE_URL": settings.database_url,
        "POSECLOUD_MAX_UPLOAD_BYTES": str(2 * BODY_MB * 2**20),
        "POSECLOUD_ARGON2_MEMORY_KIB": "1024",
        "POSECLOUD_ARGON2_TIME_COST": "1",
    }
    code = f"from app.api.main import run; run('127.0.0.1', {port}, {workers})"
    log = settings.data_root.parent / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/openapi.json").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        proc.kill()
        proc.wait()
        pytest.fail(f"the API did not start: {log.read_text()[-2000:]}")
    yield url, proc
    proc.terminate()
    proc.wait(timeout=10)


def test_200mb_upload_is_streamed_in_bounded_memory(
    server: tuple[str, subprocess.Popen], settings: Settings
) -> None:
    url, proc = server
    with httpx.Client(base_url=url, timeout=120) as http:
        http.post("/auth/register", json={"username": "alice", "password": "correct horse"})
        token = http.post("/auth/login", data={"username": "alice", "password": "correct horse"}).json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        project = http.post("/projects", json={"name": "p", "keypoints": ["a"]}, headers=auth).json()["id"]
        videos = f"/projects/{project}/videos"
        warm = http.post(videos, params={"filename": "v.mp4"}, content=TEST_VIDEO.read_bytes(), headers=auth)
        assert warm.status_code == 201 and warm.json()["frames"] == 994
        baseline = _peak_rss_mb(proc.pid)

        def body() -> Iterator[bytes]:
            block = b"\0" * 2**20
            for _ in range(BODY_MB):
                yield block

        headers = {**auth, "Content-Length": str(BODY_MB * 2**20)}
        start = time.perf_counter()
        resp = http.post(videos, params={"filename": "zeros.mp4"}, content=body(), headers=headers)
        seconds = time.perf_counter() - start
    assert resp.status_code == 422 and resp.json()["detail"].startswith("zeros.mp4 is not a readable video")
    growth = _peak_rss_mb(proc.pid) - baseline
    print(
        f"\n{BODY_MB} MB upload: {BODY_MB / seconds:.0f} MB/s, peak RSS {baseline:.0f} MB (+{growth:.1f} MB)"
    )
    assert growth < 30, f"server peak memory grew by {growth:.0f} MB for a {BODY_MB} MB upload"
    assert list(settings.upload_tmp_dir.iterdir()) == []


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _serving(pid: int) -> list[int]:
    """The processes serving requests under uvicorn's supervisor ``pid`` (not multiprocessing's tracker)."""
    return [c for c in _children(pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


@pytest.mark.parametrize("server", [2], indirect=True)
def test_two_processes_serve_one_service_and_stop_together(server: tuple[str, subprocess.Popen]) -> None:
    url, proc = server
    processes = _serving(proc.pid)
    assert len(processes) == 2
    with httpx.Client(base_url=url, timeout=60) as http:
        http.post("/auth/register", json={"username": "alice", "password": "correct horse"})
        token = http.post("/auth/login", data={"username": "alice", "password": "correct horse"}).json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        made = [
            http.post("/projects", json={"name": f"p{i}", "keypoints": ["a"]}, headers=auth) for i in range(6)
        ]
        assert [r.status_code for r in made] == [201] * 6
        # each request on a new connection, which either process may take: all see the same service
        for _ in range(10):
            with httpx.Client(base_url=url, timeout=60) as fresh:
                listed = fresh.get("/projects", headers=auth)
            assert sorted(p["name"] for p in listed.json()) == [f"p{i}" for i in range(6)]
    proc.terminate()
    proc.wait(timeout=30)
    assert not any(Path(f"/proc/{pid}").exists() for pid in processes)
