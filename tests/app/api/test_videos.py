"""Video upload, validation, listing and download, against SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.settings import Settings
from tests.testdata import TOY_VIDEO

TEST_VIDEO = TOY_VIDEO


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _upload(
    client: TestClient, project_id: int, headers: dict[str, str], name: str, content: bytes | Iterator[bytes]
) -> httpx.Response:
    return client.post(
        f"/projects/{project_id}/videos", params={"filename": name}, content=content, headers=headers
    )


def test_upload_probe_list_and_download(
    client: TestClient, alice: dict[str, str], project_id: int, settings: Settings
) -> None:
    data = TEST_VIDEO.read_bytes()
    resp = _upload(client, project_id, alice, "test_vid.mp4", data)
    assert resp.status_code == 201, resp.text
    video = resp.json()
    assert video["filename"] == "test_vid.mp4" and video["project_id"] == project_id
    assert (video["frames"], video["width"], video["height"], video["codec"]) == (994, 396, 406, "h264")
    assert video["fps"] == pytest.approx(250.0) and video["size_bytes"] == len(data)
    assert client.get(f"/projects/{project_id}/videos", headers=alice).json() == [video]
    assert client.get(f"/projects/{project_id}/videos/{video['id']}", headers=alice).json() == video
    download = client.get(f"/projects/{project_id}/videos/{video['id']}/file", headers=alice)
    assert download.status_code == 200 and download.content == data
    assert download.headers["content-type"] == "video/mp4"
    assert 'filename="test_vid.mp4"' in download.headers["content-disposition"]
    stored = _files(settings.data_root / "storage")
    assert len(stored) == 1 and stored[0].name.endswith(".mp4") and stored[0].name != "test_vid.mp4"
    assert _files(settings.upload_tmp_dir) == []


def test_members_can_upload(
    client: TestClient, alice: dict[str, str], project_id: int, login: Callable[[str], dict[str, str]]
) -> None:
    bob = login("bob")
    client.post(f"/projects/{project_id}/members", json={"username": "bob"}, headers=alice)
    assert _upload(client, project_id, bob, "v.mp4", TEST_VIDEO.read_bytes()).status_code == 201
    assert len(client.get(f"/projects/{project_id}/videos", headers=alice).json()) == 1


def test_path_tricks_in_the_name_stay_inside_the_data_root(
    client: TestClient, alice: dict[str, str], project_id: int, settings: Settings, tmp_path: Path
) -> None:
    before = set(_files(tmp_path))
    for name in ("../../x.mp4", "../../../../../../x.mp4", "..\\..\\x.mp4", "/etc/x.mp4"):
        resp = _upload(client, project_id, alice, name, TEST_VIDEO.read_bytes())
        assert resp.status_code == 201 and resp.json()["filename"] == "x.mp4"
    new = set(_files(tmp_path)) - before
    assert len(new) == 4 and all(p.is_relative_to(settings.data_root / "storage") for p in new)
    assert not any(p.name == "x.mp4" for p in _files(tmp_path.parent.parent))
    assert not Path("/etc/x.mp4").exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x00\x01 this is not a video" * 100, "x.mp4 is not a readable video (x.mp4: Invalid data found"),
        (TEST_VIDEO.read_bytes()[:300_000], "x.mp4 is not a readable video"),
    ],
)
def test_corrupt_files_are_422_and_removed(
    client: TestClient,
    alice: dict[str, str],
    project_id: int,
    settings: Settings,
    content: bytes,
    reason: str,
) -> None:
    resp = _upload(client, project_id, alice, "x.mp4", content)
    assert resp.status_code == 422
    assert resp.json()["detail"].startswith(reason)
    assert str(settings.data_root) not in resp.text and "/tmp" not in resp.text  # no server path
    assert _files(settings.data_root / "storage") == [] and _files(settings.upload_tmp_dir) == []
    assert client.get(f"/projects/{project_id}/videos", headers=alice).json() == []


def test_truncated_video_with_index_first_is_422(
    client: TestClient, alice: dict[str, str], project_id: int, truncated_video: Path, settings: Settings
) -> None:
    resp = _upload(client, project_id, alice, "cut.mp4", truncated_video.read_bytes())
    assert resp.status_code == 422
    assert resp.json()["detail"].startswith("cut.mp4 is truncated or corrupt: its header promises 994 frames")
    assert str(settings.data_root) not in resp.text and "/tmp" not in resp.text


def test_empty_upload_is_400(
    client: TestClient, alice: dict[str, str], project_id: int, settings: Settings
) -> None:
    resp = _upload(client, project_id, alice, "x.mp4", b"")
    assert resp.status_code == 400 and resp.json()["detail"].startswith("the upload is empty (0 bytes)")

    def nothing() -> Iterator[bytes]:
        yield from ()

    chunked = _upload(client, project_id, alice, "x.mp4", nothing())  # no Content-Length header
    assert chunked.status_code == 400
    assert _files(settings.upload_tmp_dir) == [] and _files(settings.data_root / "storage") == []


def test_oversized_upload_is_413(
    client: TestClient, alice: dict[str, str], project_id: int, settings: Settings
) -> None:
    declared = _upload(client, project_id, alice, "big.mp4", b"\0" * (settings.max_upload_bytes + 1))
    assert declared.status_code == 413
    assert declared.json()["detail"].startswith(
        "upload is 5000001 bytes but the limit is 5000000 bytes (5.0 MB)"
    )

    def chunks() -> Iterator[bytes]:
        for _ in range(8):
            yield b"\0" * 1_000_000

    streamed = _upload(client, project_id, alice, "big.mp4", chunks())  # chunked: caught while streaming
    assert streamed.status_code == 413
    assert streamed.json()["detail"].startswith("upload is more than 5000000 bytes")
    assert _files(settings.upload_tmp_dir) == [] and _files(settings.data_root / "storage") == []


def test_unknown_video_ids_are_404(
    client: TestClient, alice: dict[str, str], project_id: int, login: Callable[[str], dict[str, str]]
) -> None:
    other = client.post("/projects", json={"name": "other", "keypoints": ["a"]}, headers=alice).json()["id"]
    video = _upload(client, other, alice, "v.mp4", TEST_VIDEO.read_bytes()).json()["id"]
    for url in (f"/projects/{project_id}/videos/{video}", f"/projects/{project_id}/videos/999/file"):
        resp = client.get(url, headers=alice)
        assert resp.status_code == 404 and "not found in project" in resp.json()["detail"]
    assert client.get("/projects/abc/videos", headers=alice).status_code == 422


def test_missing_filename_is_422(client: TestClient, alice: dict[str, str], project_id: int) -> None:
    resp = client.post(f"/projects/{project_id}/videos", content=b"abc", headers=alice)
    assert resp.status_code == 422 and "query.filename: Field required" in resp.json()["detail"]


def test_deleting_a_project_deletes_its_files(
    client: TestClient, alice: dict[str, str], project_id: int, settings: Settings
) -> None:
    _upload(client, project_id, alice, "v.mp4", TEST_VIDEO.read_bytes())
    assert len(_files(settings.data_root / "storage")) == 1
    client.delete(f"/projects/{project_id}", headers=alice)
    assert _files(settings.data_root / "storage") == []
