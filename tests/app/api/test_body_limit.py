"""Bodies the routes parse in memory (JSON, forms) are refused past POSECLOUD_MAX_JSON_BYTES with 413,
before they are read whole; uploads stream past it under their own limits."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.api.factory import create_app
from app.settings import Settings
from tests.app.conftest import register_and_login
from tests.testdata import TOY

LIMIT = 4096


@pytest.fixture
def small(settings: Settings) -> Iterator[TestClient]:
    """The service with a 4 kB limit on parsed bodies."""
    with TestClient(create_app(settings.model_copy(update={"max_json_bytes": LIMIT}))) as client:
        yield client


def _project(keypoints: int) -> bytes:
    return json.dumps({"name": "p", "keypoints": [f"keypoint{i:05d}" for i in range(keypoints)]}).encode()


def _in_chunks(body: bytes) -> Iterator[bytes]:
    """No Content-Length: the body is counted as it arrives."""
    for start in range(0, len(body), 1000):
        yield body[start : start + 1000]


def test_json_bodies_past_the_limit_are_413_and_change_nothing(small: TestClient) -> None:
    alice = register_and_login(small, "alice")
    json_type = {**alice, "Content-Type": "application/json"}
    fits, over = _project(100), _project(400)
    assert len(fits) <= LIMIT < len(over)
    declared = small.post("/projects", content=over, headers=json_type)
    streamed = small.post("/projects", content=_in_chunks(over), headers=json_type)
    untyped = small.post("/projects", content=over, headers=alice)  # read whole, typed or not
    for resp, size in [
        (declared, f"{len(over)} bytes"),
        (streamed, f"more than {LIMIT} bytes"),
        (untyped, ""),
    ]:
        assert resp.status_code == 413, resp.text
        assert resp.json()["detail"].startswith(f"request body is {size}")
        assert f"the limit is {LIMIT} bytes" in resp.json()["detail"]
        assert "POSECLOUD_MAX_JSON_BYTES" in resp.json()["detail"]
    assert small.get("/projects", headers=alice).json() == []
    assert small.post("/projects", content=fits, headers=json_type).status_code == 201


def test_form_bodies_have_the_limit_too(small: TestClient) -> None:
    register_and_login(small, "alice")
    resp = small.post("/auth/login", data={"username": "alice", "password": "x" * LIMIT})
    assert resp.status_code == 413 and "POSECLOUD_MAX_JSON_BYTES" in resp.json()["detail"]


def test_uploads_stream_past_it(small: TestClient) -> None:
    alice = register_and_login(small, "alice")
    project = small.post("/projects", json={"name": "p", "keypoints": ["a"]}, headers=alice).json()["id"]
    body = (TOY / "CollectedData.csv").read_bytes()
    assert len(body) > LIMIT
    resp = small.put(f"/projects/{project}/labels", params={"filename": "l.csv"}, content=body, headers=alice)
    assert resp.status_code == 422 and "keypoint names" in resp.json()["detail"]  # read, then checked
