"""Fixtures for the service tests: every API test runs against SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.factory import create_app
from app.labelstudio.server import DEFAULT_COMMAND, LabelStudioServer
from app.settings import Settings
from tests.services import free_port
from tests.testdata import TOY_VIDEO

TEST_VIDEO = TOY_VIDEO


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    """Test settings: data under tmp_path/data, cheap password hashing, a 5 MB upload limit."""
    return Settings(
        data_root=tmp_path / "data",
        database_url=database_url,
        redis_url=redis_url,
        max_upload_bytes=5_000_000,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def register_and_login(client: TestClient, username: str, password: str = "correct horse") -> dict[str, str]:
    """Create an account and return its Authorization header."""
    assert client.post("/auth/register", json={"username": username, "password": password}).status_code == 201
    resp = client.post("/auth/login", data={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


@pytest.fixture
def login(client: TestClient) -> Callable[[str], dict[str, str]]:
    """``login("alice")`` registers alice and returns her Authorization header."""
    return lambda username: register_and_login(client, username)


@pytest.fixture
def alice(login: Callable[[str], dict[str, str]]) -> dict[str, str]:
    return login("alice")


@pytest.fixture
def project_id(client: TestClient, alice: dict[str, str]) -> int:
    """A project owned by alice."""
    body = {"name": "mirror-mouse", "keypoints": ["paw", "nose"], "skeleton": [["paw", "nose"]]}
    resp = client.post("/projects", json=body, headers=alice)
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


@pytest.fixture(scope="session")
def truncated_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """test_vid.mp4 rewritten with its index first (faststart), then cut: the header promises 994 frames."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    folder = tmp_path_factory.mktemp("videos")
    full = folder / "faststart.mp4"
    cmd = ["ffmpeg", "-v", "error", "-i", str(TEST_VIDEO), "-c", "copy", "-movflags", "+faststart", str(full)]
    subprocess.run(cmd, check=True)
    cut = folder / "truncated.mp4"
    cut.write_bytes(full.read_bytes()[:800_000])
    return cut


@pytest.fixture(scope="session")
def api_port() -> int:
    """One port for every test's API server: Label Studio's pages name it (LABEL_STUDIO_HOST)."""
    return free_port()


@pytest.fixture(scope="session")
def labelstudio(tmp_path_factory: pytest.TempPathFactory, api_port: int) -> Iterator[LabelStudioServer]:
    if not DEFAULT_COMMAND.is_file():
        pytest.skip("Label Studio is not installed: run `make labelstudio`")
    server = LabelStudioServer(
        tmp_path_factory.mktemp("labelstudio"), free_port(), f"http://127.0.0.1:{api_port}"
    )
    server.start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
