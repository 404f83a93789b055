"""Project CRUD, sharing and the 404-for-outsiders rule, against SQLite and PostgreSQL."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from app.api.factory import create_app
from app.settings import Settings
from core.names import MAX_NAME_LENGTH, UNSEEN_CATEGORIES
from tests.app.conftest import register_and_login
from tests.core.test_names import NAME_FIELDS
from tests.testdata import DLC_REACHING
from worker.state.layout import data_prefix
from worker.state.storage import Storage

Login = Callable[[str], dict[str, str]]


def test_create_get_and_list(client: TestClient, alice: dict[str, str]) -> None:
    body = {
        "name": "mouse",
        "keypoints": ["a", "b", "c"],
        "skeleton": [["a", "b"]],
        "views": ["mirror"],
        "pca_keypoints": ["a", "b", "c"],
        "view_matches": [["a"], ["b"]],
        "flip_pairs": [["a", "c"]],
    }
    created = client.post("/projects", json=body, headers=alice)
    assert created.status_code == 201
    project = created.json()
    expected = {
        **body,
        "id": project["id"],
        "owner": "alice",
        "members": [],
        "roles": {"alice": "owner"},
        "created_at": project["created_at"],
        "labeled_frames": 0,
    }
    assert project == expected
    assert client.get(f"/projects/{project['id']}", headers=alice).json() == project
    assert client.get("/projects", headers=alice).json() == [project]


def test_views_default_to_main(client: TestClient, alice: dict[str, str]) -> None:
    resp = client.post("/projects", json={"name": "p", "keypoints": ["a"]}, headers=alice)
    assert resp.json()["views"] == ["main"] and resp.json()["skeleton"] == []


def test_invalid_projects_are_422_with_reason(client: TestClient, alice: dict[str, str]) -> None:
    unknown = {"name": "p", "keypoints": ["a", "b"], "skeleton": [["a", "tail"]]}
    resp = client.post("/projects", json=unknown, headers=alice)
    assert resp.status_code == 422
    assert "skeleton names keypoints that are not in keypoints: ['tail']" in resp.json()["detail"]
    dupes = client.post("/projects", json={"name": "p", "keypoints": ["a", "a"]}, headers=alice)
    assert dupes.status_code == 422 and "repeated: ['a']" in dupes.json()["detail"]
    empty = client.post("/projects", json={"name": "p", "keypoints": []}, headers=alice)
    assert empty.status_code == 422 and "body.keypoints" in empty.json()["detail"]
    cameras = {"name": "p", "keypoints": ["a"], "views": ["top", "side"], "view_matches": [["a"], ["a"]]}
    resp = client.post("/projects", json=cameras, headers=alice)
    assert resp.status_code == 422 and "view_matches: these list a mirror's views" in resp.json()["detail"]


def test_duplicate_name_is_409_per_owner(client: TestClient, alice: dict[str, str], login: Login) -> None:
    body = {"name": "same", "keypoints": ["a"]}
    assert client.post("/projects", json=body, headers=alice).status_code == 201
    resp = client.post("/projects", json=body, headers=alice)
    assert resp.status_code == 409 and "already have a project named 'same'" in resp.json()["detail"]
    assert client.post("/projects", json=body, headers=login("bob")).status_code == 201


def test_other_users_get_404_on_every_project_route(
    client: TestClient, project_id: int, login: Login, settings: Settings
) -> None:
    mallory = login("mallory")
    routes = [
        ("GET", f"/projects/{project_id}", None),
        ("DELETE", f"/projects/{project_id}", None),
        ("POST", f"/projects/{project_id}/members", {"username": "mallory"}),
        ("GET", f"/projects/{project_id}/videos", None),
        ("GET", f"/projects/{project_id}/videos/1", None),
        ("GET", f"/projects/{project_id}/videos/1/file", None),
    ]
    missing = project_id + 1000
    for method, url, body in routes:
        resp = client.request(method, url, json=body, headers=mallory)
        assert resp.status_code == 404, (method, url)
        assert resp.json() == {"detail": f"project {project_id} not found; list yours with GET /projects"}
        unknown = client.request(
            method, url.replace(str(project_id), str(missing), 1), json=body, headers=mallory
        )
        assert unknown.json()["detail"] == resp.json()["detail"].replace(str(project_id), str(missing))
    upload = client.post(f"/projects/{project_id}/videos?filename=a.mp4", content=b"x", headers=mallory)
    assert upload.status_code == 404
    assert client.get("/projects", headers=mallory).json() == []


def test_members_can_read_and_write_but_not_delete(
    client: TestClient, alice: dict[str, str], project_id: int, login: Login
) -> None:
    bob = login("bob")
    added = client.post(f"/projects/{project_id}/members", json={"username": "Bob"}, headers=alice)
    assert added.status_code == 201 and added.json()["members"] == ["bob"]
    assert client.get(f"/projects/{project_id}", headers=bob).json()["owner"] == "alice"
    assert [p["id"] for p in client.get("/projects", headers=bob).json()] == [project_id]
    assert client.get(f"/projects/{project_id}/videos", headers=bob).json() == []
    refused = client.delete(f"/projects/{project_id}", headers=bob)
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith(f"your role in project {project_id} is trainer")
    assert (
        "cannot change the members of, or delete, the project; ask its owner (alice)"
        in refused.json()["detail"]
    )
    again = client.post(f"/projects/{project_id}/members", json={"username": "bob"}, headers=alice)
    assert again.status_code == 409
    nobody = client.post(f"/projects/{project_id}/members", json={"username": "ghost"}, headers=alice)
    assert nobody.status_code == 404 and "must register first" in nobody.json()["detail"]


def test_delete_removes_project(client: TestClient, alice: dict[str, str], project_id: int) -> None:
    assert client.delete(f"/projects/{project_id}", headers=alice).status_code == 204
    assert client.get(f"/projects/{project_id}", headers=alice).status_code == 404
    assert client.get("/projects", headers=alice).json() == []


def test_unknown_routes_and_openapi(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/projects/{project_id}/videos" in spec["paths"]
    upload = spec["paths"]["/projects/{project_id}/videos"]["post"]
    assert "application/octet-stream" in upload["requestBody"]["content"]
    assert client.get("/no-such-route").json() == {"detail": "Not Found"}


def test_unexpected_errors_are_json_500(settings: Settings) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.post("/auth/register", json={"username": "alice", "password": "correct horse"})
        token = client.post("/auth/login", data={"username": "alice", "password": "correct horse"}).json()
        with client.app.state.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE project_members")
        resp = client.get("/projects", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert resp.status_code == 500
    assert resp.json() == {
        "detail": "internal server error; retry, and report it with the server log if it persists"
    }


# Names that must not enter: control and format characters (NUL, right-to-left overrides), blanks,
# path tricks, and names past the length limit.
BAD_NAMES = st.one_of(
    st.builds(
        "{}{}{}".format,
        st.text(max_size=3),
        st.characters(categories=sorted(UNSEEN_CATEGORIES)),
        st.text(max_size=3),
    ),
    st.text(st.sampled_from(" \u3000"), max_size=3),
    st.sampled_from([".", "..", "../x", "a/b", "a\\b", "..\\..\\x"]),
    st.text(st.characters(categories=["L", "N"]), min_size=MAX_NAME_LENGTH + 1, max_size=MAX_NAME_LENGTH + 5),
)


@examples(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(sorted(NAME_FIELDS)), bad=BAD_NAMES)
def test_bad_names_are_422_naming_the_field_and_create_nothing(
    client: TestClient, alice: dict[str, str], field: str, bad: str
) -> None:
    body = {"name": "p", "keypoints": ["a"], **NAME_FIELDS[field](bad)}
    resp = client.post("/projects", json=body, headers=alice)
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"].startswith(f"invalid request: body.{field}: ")
    assert client.get("/projects", headers=alice).json() == []


@examples(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=st.one_of(BAD_NAMES, st.sampled_from(["bo", "x" * 65, "bob smith", "b\u00f6b"])))
def test_bad_member_names_are_422(
    client: TestClient, alice: dict[str, str], project_id: int, bad: str
) -> None:
    resp = client.post(f"/projects/{project_id}/members", json={"username": bad}, headers=alice)
    assert resp.status_code == 422 and resp.json()["detail"].startswith("invalid request: body.username: ")
    assert client.get(f"/projects/{project_id}", headers=alice).json()["members"] == []


@pytest.fixture
def roomy(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A client of a service that takes a whole zipped project (18 MB), and alice's header."""
    with TestClient(create_app(settings.model_copy(update={"max_upload_bytes": 50_000_000}))) as client:
        yield client, register_and_login(client, "alice")


def test_a_zipped_deeplabcut_project_becomes_a_project_with_its_keypoints_and_labels(
    roomy, dlc_project_zip
) -> None:
    client, alice = roomy
    resp = client.post(
        "/projects/import", params={"filename": dlc_project_zip.name}, content=dlc_project_zip.read_bytes(),
        headers=alice,
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    made = resp.json()
    project = made["project"]
    assert project["name"] == "Reaching-Mackenzie"
    assert project["keypoints"] == ["Hand", "Finger1", "Tongue", "Joystick1", "Joystick2"]  # config.yaml's
    assert project["skeleton"] == [["Hand", "Finger1"], ["Joystick1", "Joystick2"]]
    assert made["labels"]["frames"] == 55
    (listed,) = client.get("/projects", headers=alice).json()
    assert listed["labeled_frames"] == 55
    labels = client.get(f"/projects/{project['id']}/labels", headers=alice)
    assert labels.status_code == 200 and labels.text.count("labeled-data/reachingvideo1/img") == 55
    (version,) = client.get(f"/projects/{project['id']}/labels/versions", headers=alice).json()
    assert (version["number"], version["source"], version["labeled_frames"]) == (1, "import", 55)
    image = client.get(
        f"/projects/{project['id']}/frames/labeled-data/reachingvideo1/img005.png", headers=alice
    )
    assert image.status_code == 200 and image.content[:4] == b"\x89PNG"


def test_a_refused_import_makes_no_project(roomy, dlc_project_zip) -> None:
    client, alice = roomy
    upload = {"params": {"filename": "notes.zip"}, "headers": alice}
    resp = client.post("/projects/import", content=b"PK\x05\x06" + b"\0" * 18, **upload)  # an empty ZIP
    assert resp.status_code == 422 and "config.yaml" in resp.json()["detail"], resp.text
    first = client.post("/projects/import", params={"filename": "r.zip"}, content=dlc_project_zip.read_bytes(),
                        headers=alice)  # fmt: skip
    assert first.status_code == 201
    again = client.post("/projects/import", params={"filename": "r.zip"}, content=dlc_project_zip.read_bytes(),
                        headers=alice)  # fmt: skip
    assert again.status_code == 409 and "already have a project named 'r'" in again.json()["detail"]
    assert [p["name"] for p in client.get("/projects", headers=alice).json()] == ["r"]


def _dlc_zip_with_video(folder: Path, video: bytes) -> bytes:
    """The reaching project zipped with a video of its own that its config.yaml lists."""
    config = (
        (DLC_REACHING / "config.yaml")
        .read_text()
        .replace("WILL BE AUTOMATICALLY UPDATED BY DEMO CODE:", "videos/reachingvideo1.mp4:")
    )
    path = folder / "with-video.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Reaching/config.yaml", config)
        for file in sorted((DLC_REACHING / "labeled-data").rglob("*.csv")) + sorted(
            (DLC_REACHING / "labeled-data").rglob("*.png")
        ):
            zf.write(file, f"Reaching/{file.relative_to(DLC_REACHING).as_posix()}")
        zf.writestr("Reaching/videos/reachingvideo1.mp4", video)
    return path.read_bytes()


def test_a_zipped_deeplabcut_project_brings_its_videos(
    roomy, settings: Settings, toy_clip, tmp_path: Path
) -> None:
    client, alice = roomy
    upload = _dlc_zip_with_video(tmp_path, toy_clip.read_bytes())
    resp = client.post("/projects/import", params={"filename": "Reaching.zip"}, content=upload, headers=alice)
    assert resp.status_code == 201, resp.text
    assert resp.json()["labels"]["videos"] == ["reachingvideo1.mp4"]
    project = resp.json()["project"]["id"]
    (video,) = client.get(f"/projects/{project}/videos", headers=alice).json()
    assert video["filename"] == "reachingvideo1.mp4" and video["frames"] == 40
    (job,) = client.get(f"/projects/{project}/jobs", headers=alice).json()
    assert job["kind"] == "transcode" and job["params"]["video_id"] == video["id"]
    # the video is one of the project's videos, not a stray copy among the labeled frames
    assert Storage(settings.storage_url).list(f"{data_prefix(project)}/videos") == []


def test_an_unreadable_video_in_a_zipped_project_refuses_it_whole(roomy, tmp_path: Path) -> None:
    client, alice = roomy
    upload = _dlc_zip_with_video(tmp_path, b"not a video at all")
    resp = client.post("/projects/import", params={"filename": "Reaching.zip"}, content=upload, headers=alice)
    assert resp.status_code == 422 and "reachingvideo1.mp4" in resp.json()["detail"], resp.text
    assert client.get("/projects", headers=alice).json() == []
