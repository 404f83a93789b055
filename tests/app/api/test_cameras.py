"""Projects with separate synchronized cameras in the app: one label file per view (rows the same
moments in every view), videos named by session and view."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.testdata import BODY_PARTS, camera_labels_zip, make_camera_project
from worker.state.db.models import LabelStudioProject, LabelStudioTask


@pytest.fixture(scope="module")
def camera_dir(tmp_path_factory) -> Path:
    return make_camera_project(tmp_path_factory.mktemp("cameras"), video_frames=12).parent


@pytest.fixture
def cameras(client: TestClient, alice: dict[str, str]) -> int:
    body = {"name": "cams", "keypoints": BODY_PARTS, "views": ["top", "bottom"]}
    resp = client.post("/projects", json=body, headers=alice)
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def _put(client: TestClient, headers: dict, project: int, content: bytes, view: str | None = None):
    params = {"filename": "labels.zip", **({"view": view} if view else {})}
    return client.put(f"/projects/{project}/labels", params=params, content=content, headers=headers)


def test_each_view_gets_its_own_labels(client: TestClient, alice, cameras, camera_dir) -> None:
    top = camera_labels_zip(camera_dir, "top", rows=4)
    resp = _put(client, alice, cameras, top)
    assert (
        resp.status_code == 422 and "2 camera views (top, bottom); say which view's" in resp.json()["detail"]
    )
    resp = _put(client, alice, cameras, top, view="side")
    assert resp.status_code == 422 and "view 'side' is not one of" in resp.json()["detail"]
    resp = _put(client, alice, cameras, top, view="top")
    assert resp.status_code == 200, resp.text
    assert resp.json()["view"] == "top" and resp.json()["frames"] == 4
    missing = client.get(f"/projects/{cameras}/labels", params={"view": "bottom"}, headers=alice)
    assert missing.status_code == 404 and "no labels for view bottom yet" in missing.json()["detail"]
    # bottom rows that are not the same moments as top's are refused, and nothing is stored
    resp = _put(client, alice, cameras, camera_labels_zip(camera_dir, "bottom", rows=3), view="bottom")
    assert resp.status_code == 422 and "different numbers of rows" in resp.json()["detail"]
    assert (
        client.get(f"/projects/{cameras}/labels", params={"view": "bottom"}, headers=alice).status_code == 404
    )
    resp = _put(client, alice, cameras, camera_labels_zip(camera_dir, "bottom", rows=4), view="bottom")
    assert resp.status_code == 200, resp.text
    got = client.get(f"/projects/{cameras}/labels", params={"view": "bottom"}, headers=alice)
    assert got.headers["content-disposition"] == 'attachment; filename="CollectedData_bottom.csv"'
    table = pd.read_csv(io.StringIO(got.text), header=[0, 1, 2], index_col=0)
    assert list(table.index) == [f"labeled-data/bottom/img{n:02d}.png" for n in (1, 2, 3, 4)]


def test_videos_say_their_view_and_session(client: TestClient, alice, cameras, camera_dir) -> None:
    video = (camera_dir / "videos" / "test_vid_top.mp4").read_bytes()

    def upload(name: str):
        return client.post(
            f"/projects/{cameras}/videos", params={"filename": name}, content=video, headers=alice
        )

    resp = upload("test_vid.mp4")
    assert (
        resp.status_code == 422
        and "exactly one of top, bottom (e.g. session1_top.mp4)" in resp.json()["detail"]
    )
    assert upload("run1_top.mp4").status_code == 201
    resp = upload("run1_top.avi")
    assert (
        resp.status_code == 409
        and "is already the top view of session 'run1_{view}'" in resp.json()["detail"]
    )
    assert upload("run1_bottom.mp4").status_code == 201
    videos = client.get(f"/projects/{cameras}/videos", headers=alice).json()
    assert [v["filename"] for v in videos] == ["run1_top.mp4", "run1_bottom.mp4"]


def test_label_qc_links_each_views_flagged_frames_to_their_moments_task(
    client: TestClient, alice, cameras, camera_dir
) -> None:
    planted = {"top": 2, "bottom": 5}  # the row whose first keypoint is clicked onto its second
    for view, row in planted.items():
        assert (
            _put(client, alice, cameras, camera_labels_zip(camera_dir, view, rows=12), view=view).status_code
            == 200
        )
        got = client.get(f"/projects/{cameras}/labels", params={"view": view}, headers=alice)
        table = pd.read_csv(io.StringIO(got.text), header=[0, 1, 2], index_col=0)
        table.iloc[row, 0:2] = table.iloc[row, 2:4].to_numpy()
        resp = client.put(
            f"/projects/{cameras}/labels",
            params={"filename": "labels.csv", "view": view},
            content=table.to_csv().encode(),
            headers=alice,
        )
        assert resp.status_code == 200, resp.text
    # the project's Label Studio tasks, one per moment, named by its first view's image
    moments = [f"img{n:02d}.png" for n in range(1, 13)]
    with client.app.state.sessions() as session:
        session.add(LabelStudioProject(project_id=cameras, ls_project_id=7, label_config="", hook_secret="s"))
        for task, name in enumerate(moments, start=100):
            session.add(
                LabelStudioTask(ls_task_id=task, project_id=cameras, image=f"labeled-data/top/{name}")
            )
        session.commit()
    qc = client.get(f"/projects/{cameras}/labels/qc", headers=alice).json()
    for checked in qc["views"]:
        row = planted[checked["view"]]
        duplicate = next(f for f in checked["flagged"] if f["reasons"][0]["kind"] == "duplicate")
        assert duplicate["image"] == f"labeled-data/{checked['view']}/{moments[row]}"
        assert duplicate["labelstudio_url"] == f"/labelstudio/projects/7/data?task={100 + row}"
