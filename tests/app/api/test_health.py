"""GET /health with the real parts up and stopped: a private Redis and a private PostgreSQL."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.factory import create_app
from app.settings import Settings
from tests.services import PrivatePostgres


def test_health_reports_each_part_and_503_while_redis_is_down(client: TestClient, redis_server) -> None:
    ok = client.get("/health")
    assert ok.status_code == 200 and ok.json()["status"] == "ok", ok.text
    parts = ok.json()["parts"]
    assert parts["database"]["state"] == parts["redis"]["state"] == "up"
    assert parts["workers"]["state"] == "none" and "jobs wait" in parts["workers"]["detail"]
    redis_server.stop()
    try:
        down = client.get("/health")
        assert down.status_code == 503 and down.json()["status"] == "down"
        assert down.json()["parts"]["redis"]["state"] == "down"
        assert "Redis" in down.json()["parts"]["redis"]["detail"]
        assert down.json()["parts"]["database"]["state"] == "up"
    finally:
        redis_server.start()
    assert client.get("/health").status_code == 200


@pytest.fixture
def private_postgres():
    if os.geteuid() != 0 or shutil.which("runuser") is None or not PrivatePostgres.BIN.is_dir():
        pytest.skip("a private PostgreSQL needs root (to run it as the postgres user) and PostgreSQL 15")
    folder = Path(tempfile.mkdtemp(prefix="posecloud-pg-"))  # pytest's tmp_path is closed to that user
    try:
        server = PrivatePostgres(folder)
        server.start()
        yield server
        if server.running:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the private server replaces it
def test_health_is_503_while_the_database_is_down(settings: Settings, private_postgres) -> None:
    with TestClient(create_app(settings.model_copy(update={"database_url": private_postgres.url}))) as client:
        assert client.get("/health").status_code == 200
        private_postgres.stop()
        down = client.get("/health")
        assert down.status_code == 503
        assert down.json()["parts"]["database"]["state"] == "down"
        assert "does not answer" in down.json()["parts"]["database"]["detail"]
        assert down.json()["parts"]["redis"]["state"] == "up"
        private_postgres.start()
        assert client.get("/health").status_code == 200
