"""Label uploads: the formats that are accepted, and bad uploads rejected with a reason, changing nothing."""

from __future__ import annotations

import io
import zipfile

import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient

from app.api.factory import create_app
from app.settings import Settings
from tests.app.conftest import register_and_login
from tests.testdata import EXAMPLE_PROJECT, TOY

CSV_LINES = (TOY / "CollectedData.csv").read_text().splitlines()
HEADER, ROWS = CSV_LINES[:3], CSV_LINES[3:8]  # five labeled frames keep the uploads small


def _csv(header: list[str] = HEADER, rows: list[str] = ROWS) -> str:
    return "\n".join(header + rows) + "\n"


def _zip(files: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buffer.getvalue()


def _images(prefix: str = "") -> dict[str, bytes]:
    names = [row.split(",", 1)[0] for row in ROWS]
    return {f"{prefix}{name}": (TOY / name).read_bytes() for name in names}


@pytest.fixture
def toy_project(client: TestClient, alice: dict[str, str]) -> int:
    config = yaml.safe_load(EXAMPLE_PROJECT.read_text())
    body = {k: config[k] for k in ("name", "keypoints", "skeleton")}
    return client.post("/projects", json=body, headers=alice).json()["id"]


def _put(client: TestClient, headers: dict, project: int, filename: str, content: bytes | str):
    return client.put(
        f"/projects/{project}/labels", params={"filename": filename}, content=content, headers=headers
    )


def test_zip_with_images_then_csv_alone_then_download(client: TestClient, alice, toy_project) -> None:
    assert client.get(f"/projects/{toy_project}/labels", headers=alice).status_code == 404
    resp = _put(
        client,
        alice,
        toy_project,
        "labels.zip",
        _zip({"session1/CollectedData.csv": _csv(), **_images("session1/")}),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["frames"] == 5 and len(resp.json()["keypoints"]) == 17
    original = pd.read_csv(io.StringIO(_csv()), header=[0, 1, 2], index_col=0)
    labeled = int(original.notna().to_numpy().reshape(5, 17, 2).all(-1).sum())
    assert resp.json()["labeled_keypoints"] == labeled
    # a CSV alone is accepted once its images are in the project; the values come back exactly
    resp = _put(client, alice, toy_project, "CollectedData.csv", _csv(rows=ROWS[:3]))
    assert resp.status_code == 200 and resp.json()["frames"] == 3
    downloaded = client.get(f"/projects/{toy_project}/labels", headers=alice)
    got = pd.read_csv(io.StringIO(downloaded.text), header=[0, 1, 2], index_col=0)
    pd.testing.assert_frame_equal(got, original.iloc[:3], check_names=False)


@pytest.mark.parametrize(
    ("filename", "content", "status", "message"),
    [
        ("labels.csv", "not,a,label\nfile\n", 422, "header"),
        (
            "labels.csv",
            _csv(header=[HEADER[0], HEADER[1].replace("nose_top", "snout"), HEADER[2]]),
            422,
            "'snout'",
        ),
        (
            "labels.csv",
            _csv(rows=CSV_LINES[20:22]),
            422,
            "2 labeled images are neither in the upload nor in the project",
        ),
        ("labels.zip", _zip({"../../evil/CollectedData.csv": _csv()}), 422, "outside the archive"),
        ("labels.zip", b"PK\x03\x04 broken", 422, "not a readable ZIP"),
        ("labels.zip", _zip({"readme.txt": "hello"}), 422, "CollectedData.csv"),
        ("labels.txt", "whatever", 422, "unsupported label upload"),
        ("labels.csv", b"", 400, "empty"),
        ("one.csv", "1," * 600_000, 422, "one.csv: line 1 is longer than 1,000,000 characters"),
        (
            "labels.zip",
            _zip({"session1/CollectedData.csv": "scorer\nbodyparts\n"}),
            422,
            "labels.zip/session1/CollectedData.csv: expected 3 header rows",
        ),
    ],
    ids=[
        "malformed-header",
        "wrong-keypoint",
        "missing-images",
        "path-trick",
        "corrupt-zip",
        "no-labels",
        "unknown-type",
        "empty",
        "one-endless-line",
        "malformed-in-zip",
    ],
)
def test_bad_uploads_are_rejected_and_change_nothing(
    client: TestClient,
    alice,
    toy_project,
    settings: Settings,
    filename: str,
    content,
    status: int,
    message: str,
) -> None:
    assert (
        _put(
            client, alice, toy_project, "labels.zip", _zip({"CollectedData.csv": _csv(), **_images()})
        ).status_code
        == 200
    )
    before = client.get(f"/projects/{toy_project}/labels", headers=alice).text
    resp = _put(client, alice, toy_project, filename, content)
    assert resp.status_code == status, resp.text
    assert message in resp.json()["detail"]
    assert str(settings.data_root) not in resp.text and "/tmp" not in resp.text  # no server path
    assert client.get(f"/projects/{toy_project}/labels", headers=alice).text == before


def test_other_users_cannot_see_or_replace_labels(client: TestClient, alice, login, toy_project) -> None:
    bob = login("bob")
    assert _put(client, bob, toy_project, "labels.csv", _csv()).status_code == 404
    assert client.get(f"/projects/{toy_project}/labels", headers=bob).status_code == 404


def test_label_files_have_their_own_limit_and_archives_the_upload_limit(settings: Settings) -> None:
    """A label table is parsed in memory: POSECLOUD_MAX_LABELS_BYTES, checked as it streams in, and for
    a table inside an archive too; an archive (mostly images, unpacked to disk) may be larger."""
    table = _csv().encode()
    small = settings.model_copy(update={"max_labels_bytes": len(table) - 1})
    with TestClient(create_app(small)) as client:
        alice = register_and_login(client, "alice")
        config = yaml.safe_load(EXAMPLE_PROJECT.read_text())
        body = {k: config[k] for k in ("name", "keypoints", "skeleton")}
        project = client.post("/projects", json=body, headers=alice).json()["id"]
        archive = _zip({"CollectedData.csv": _csv(rows=ROWS[:4]), **_images()})
        assert len(archive) > len(table)
        assert _put(client, alice, project, "labels.zip", archive).status_code == 200
        before = client.get(f"/projects/{project}/labels", headers=alice).text

        def chunks():  # no Content-Length: refused while streaming
            yield table[:1000]
            yield table[1000:]

        declared = _put(client, alice, project, "labels.csv", table)
        streamed = _put(client, alice, project, "labels.csv", chunks())
        zipped = _put(
            client, alice, project, "labels.zip", _zip({"s/CollectedData.csv": _csv(), **_images("s/")})
        )
        for resp, size in [
            (declared, f"{len(table)} bytes"),
            (streamed, f"more than {len(table) - 1} bytes"),
        ]:
            assert resp.status_code == 413
            assert resp.json()["detail"].startswith(
                f"label file is {size} but the limit is {len(table) - 1} bytes"
            )
            assert "POSECLOUD_MAX_LABELS_BYTES" in resp.json()["detail"]
        assert zipped.status_code == 413
        assert zipped.json()["detail"].startswith(f"labels.zip/s/CollectedData.csv is {len(table)} bytes")
        assert client.get(f"/projects/{project}/labels", headers=alice).text == before
        assert not any(p.is_file() for p in small.upload_tmp_dir.rglob("*"))


def test_the_file_name_is_sanitised_before_errors_name_it(client: TestClient, alice, toy_project) -> None:
    resp = _put(client, alice, toy_project, "../../x\u202egnp.csv", "not,a,label\nfile\n")
    assert resp.status_code == 422
    assert resp.json()["detail"].startswith("x_gnp.csv: expected 3 header rows")
