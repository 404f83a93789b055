"""A real Label Studio server for the test session (started once: its first start runs its
migrations), and a real API server (uvicorn, so that Label Studio's webhooks reach it) per test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from app.labelstudio.server import LabelStudioServer
from tests.testdata import EXAMPLE_PROJECT, REPO
from worker.slots.supervisor import stop_processes


@dataclass
class Api:
    url: str
    process: subprocess.Popen
    data_root: Path
    log: Path

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)

    def sign_in(self, username: str, password: str = "correct horse") -> tuple[str, httpx.Client]:
        """Register and sign in: the bearer token and a browser-like client holding the session cookie."""
        with self.client() as c:
            c.post("/auth/register", json={"username": username, "password": password})
        browser = httpx.Client(base_url=self.url, timeout=120)
        resp = browser.post("/auth/login", data={"username": username, "password": password})
        assert resp.status_code == 200, resp.text
        return resp.json()["access_token"], browser


def service_env(
    port: int, data_root: Path, labelstudio: LabelStudioServer, redis_url: str, sync_s: float, **extra: str
) -> dict[str, str]:
    """The environment the test's API (and worker) run with; ``extra`` adds POSECLOUD_<NAME> settings."""
    return {
        **os.environ,
        "POSECLOUD_DATA_ROOT": str(data_root),
        "POSECLOUD_REDIS_URL": redis_url,
        "POSECLOUD_ARGON2_MEMORY_KIB": "1024",
        "POSECLOUD_ARGON2_TIME_COST": "1",
        "POSECLOUD_MAX_UPLOAD_BYTES": "100000000",
        "POSECLOUD_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "POSECLOUD_LABELSTUDIO_PORT": str(labelstudio.port),
        "POSECLOUD_LABELSTUDIO_DATA": str(labelstudio.folder),
        "POSECLOUD_LABELSTUDIO_SYNC_S": str(sync_s),
        "POSECLOUD_HEARTBEAT_S": "0.5",
    } | {f"POSECLOUD_{k.upper()}": v for k, v in extra.items()}


def start_api(
    port: int, data_root: Path, labelstudio: LabelStudioServer, redis_url: str, sync_s: float, **extra: str
) -> Api:
    env = service_env(port, data_root, labelstudio, redis_url, sync_s, **extra)
    data_root.mkdir(parents=True, exist_ok=True)
    log = data_root / "api.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "-v", "api", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return Api(url, process, data_root, log)
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the API did not start: {log.read_text()[-3000:]}")
        time.sleep(0.2)


def stop_api(api: Api) -> None:
    stop_processes([api.process], signal.SIGTERM, 20)


@pytest.fixture
def api(tmp_path: Path, api_port: int, labelstudio: LabelStudioServer, redis_url: str) -> Iterator[Api]:
    """The API on ``api_port`` with Label Studio, a fresh data root; reconciliation every 2 s."""
    server = start_api(api_port, tmp_path / "data", labelstudio, redis_url, sync_s=2.0)
    yield server
    stop_api(server)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    """One CPU worker slot with the service's settings (same database, storage and queue)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "-v", "worker", "--gpus", "none", "--slots", "1"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def worker(
    api: Api, api_port: int, labelstudio: LabelStudioServer, redis_url: str
) -> Iterator[subprocess.Popen]:
    """One CPU worker slot for the test's API."""
    process = start_worker(
        service_env(api_port, api.data_root, labelstudio, redis_url, 2.0), api.data_root / "worker.log"
    )
    yield process
    stop_processes([process], signal.SIGINT, 30)


@pytest.fixture
def toy(api: Api, toy_labels_zip) -> tuple[str, object, int]:
    """alice's mirror-mouse project with the toy labels (90 frames, 17 keypoints) and its labeling
    page opened: ``(token, alice's browser, project id)``."""
    token, browser = api.sign_in("alice")
    config = yaml.safe_load(EXAMPLE_PROJECT.read_text())
    body = {k: config[k] for k in ("name", "keypoints", "skeleton")}
    with api.client(token) as c:
        project = c.post("/projects", json=body).json()["id"]
        resp = c.put(
            f"/projects/{project}/labels", params={"filename": "toy.zip"}, content=toy_labels_zip.read_bytes()
        )
        assert resp.status_code == 200, resp.text
    return token, browser, project
