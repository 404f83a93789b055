"""Fixtures for the job tests: the API in-process, real worker processes, a private Redis, the toy data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from app.api.factory import create_app
from app.settings import Settings
from tests.app.conftest import register_and_login
from tests.testdata import EXAMPLE_PROJECT, REPO, TOY_VIDEO
from worker.slots.supervisor import stop_processes


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    """Fast failure detection (heartbeat 0.5 s, stale after 8 s: 16 missed beats) and room for the toy data upload."""
    return Settings(
        data_root=tmp_path / "data",
        database_url=database_url,
        redis_url=redis_url,
        max_upload_bytes=50_000_000,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        heartbeat_s=0.5,
        stale_after_s=8.0,
        max_attempts=2,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


class Worker:
    """``posecloud worker --slots N`` in its own process group, with the test's settings."""

    def __init__(self, settings: Settings, slots: int, log_file: Path) -> None:
        env = {
            **os.environ,
            "POSECLOUD_DATA_ROOT": str(settings.data_root),
            "POSECLOUD_DATABASE_URL": settings.database_url,
            "POSECLOUD_REDIS_URL": settings.redis_url,
            "POSECLOUD_HEARTBEAT_S": str(settings.heartbeat_s),
            "POSECLOUD_STALE_AFTER_S": str(settings.stale_after_s),
        }
        self.log_file = log_file
        command = [sys.executable, "-m", "app.cli", "-v", "worker", "--slots", str(slots)]
        with log_file.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)

    def slot_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def kill_slots(self) -> None:
        """SIGKILL every slot process (as the OOM killer or a crash would); the supervisor restarts them."""
        for pid in self.slot_pids():
            os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        stop_processes([self.process], signal.SIGINT, 30)


@pytest.fixture
def start_worker(settings: Settings, tmp_path: Path) -> Iterator[Callable[[int], Worker]]:
    workers: list[Worker] = []

    def start(slots: int = 1) -> Worker:
        worker = Worker(settings, slots, tmp_path / "worker.log")
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def wait_for(
    client: TestClient, headers: dict, project_id: int, job_id: int, states: set[str], timeout: float = 300
) -> dict:
    """Poll a job until it reaches one of ``states``; fails with the job record on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/projects/{project_id}/jobs/{job_id}", headers=headers).json()
        if job["state"] in states:
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {job['state']} after {timeout} s: {job}")
        time.sleep(0.3)


@pytest.fixture
def alice(client: TestClient) -> dict[str, str]:
    return register_and_login(client, "alice")


@pytest.fixture
def toy_project(client: TestClient, alice: dict[str, str], toy_labels_zip: Path) -> int:
    return create_toy_project(client, alice, toy_labels_zip)


def create_toy_project(client: TestClient, headers: dict[str, str], labels_zip: Path) -> int:
    """The mirror-mouse project with its labels, through the API."""
    config = yaml.safe_load(EXAMPLE_PROJECT.read_text())
    body = {k: config[k] for k in ("name", "keypoints", "skeleton", "pca_keypoints", "view_matches")}
    project_id = client.post("/projects", json=body, headers=headers).json()["id"]
    resp = client.put(
        f"/projects/{project_id}/labels",
        params={"filename": "mirror-mouse.zip"},
        content=labels_zip.read_bytes(),
        headers=headers,
    )
    assert resp.status_code == 200, resp.text
    return project_id


@pytest.fixture
def toy_video_id(client: TestClient, alice: dict[str, str], toy_project: int) -> int:
    resp = client.post(
        f"/projects/{toy_project}/videos",
        params={"filename": "test_vid.mp4"},
        content=TOY_VIDEO.read_bytes(),
        headers=alice,
    )
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


@pytest.fixture(scope="session")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6,000 frames of ffmpeg's moving test pattern at 640x480: long enough to cancel every kind of
    job while it runs (transcoding it takes tens of seconds here)."""
    path = tmp_path_factory.mktemp("long") / "long_run.mp4"
    command = [
        "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=640x480:rate=30", "-t", "200",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return path


def upload_video(client: TestClient, headers: dict, project_id: int, path: Path) -> dict:
    resp = client.post(
        f"/projects/{project_id}/videos",
        params={"filename": path.name},
        content=path.read_bytes(),
        headers=headers,
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def wait_until(
    client: TestClient, headers: dict, project_id: int, job_id: int, ready, timeout: float = 240
) -> dict:
    """Poll a job until ``ready(job)``; fails with the job record when it ends first or on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/projects/{project_id}/jobs/{job_id}", headers=headers).json()
        if ready(job):
            return job
        if job["state"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            pytest.fail(f"job {job_id} never got there: {job}")
        time.sleep(0.2)


def epoch(job: dict) -> int:
    """The epoch (from 1) a training job's progress is at; 0 before its first report."""
    return job["progress"]["losses"]["epoch"] if job["progress"] else 0


def transcode_job(client: TestClient, headers: dict, project_id: int, video_id: int) -> dict:
    jobs = client.get(f"/projects/{project_id}/jobs", headers=headers).json()
    return next(j for j in jobs if j["kind"] == "transcode" and j["params"]["video_id"] == video_id)
