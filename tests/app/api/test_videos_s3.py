"""Videos kept in S3-compatible storage (a local moto server): upload, download, delete."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from app.api.factory import create_app
from app.settings import Settings
from tests.testdata import TOY_VIDEO
from worker.state.storage import Storage

TEST_VIDEO = TOY_VIDEO


def test_video_round_trip_through_s3(settings: Settings, s3_storage: tuple[str, dict[str, Any]]) -> None:
    url, options = s3_storage
    s3_settings = settings.model_copy(update={"storage_url": url, "storage_options": options})
    store = Storage(url, options)
    data = TEST_VIDEO.read_bytes()
    with TestClient(create_app(s3_settings)) as client:
        client.post("/auth/register", json={"username": "alice", "password": "correct horse"})
        token = client.post("/auth/login", data={"username": "alice", "password": "correct horse"}).json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        project = client.post("/projects", json={"name": "p", "keypoints": ["a"]}, headers=auth).json()["id"]
        resp = client.post(f"/projects/{project}/videos?filename=clip.mp4", content=data, headers=auth)
        assert resp.status_code == 201 and resp.json()["frames"] == 994
        [key] = store.list(f"projects/{project}")
        assert key.startswith(f"projects/{project}/videos/") and key.endswith(".mp4")
        download = client.get(f"/projects/{project}/videos/{resp.json()['id']}/file", headers=auth)
        assert download.content == data and download.headers["content-length"] == str(len(data))
        assert download.headers["content-disposition"] == 'attachment; filename="clip.mp4"'
        assert client.delete(f"/projects/{project}", headers=auth).status_code == 204
    assert store.list("projects") == [] and list(settings.upload_tmp_dir.iterdir()) == []
