"""A camera project (views top and bottom) in a real Label Studio: one task per moment with every
view's frame, and one annotation's points landing in each view's label file, exactly."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.app.labelstudio.conftest import Api
from tests.app.labelstudio.test_labeling import _open, _point, _wait
from tests.app.labelstudio.test_model_assisted import _artifact, _job, _tasks
from tests.testdata import BODY_PARTS, TINY, camera_labels_zip, make_camera_project


def _view_labels(api: Api, token: str, project: int, view: str) -> pd.DataFrame:
    with api.client(token) as c:
        resp = c.get(f"/projects/{project}/labels", params={"view": view})
    assert resp.status_code == 200, resp.text
    return pd.read_csv(io.BytesIO(resp.content), header=[0, 1, 2], index_col=0)


def _camera_project(c, camera_dir, rows: int | None = None) -> int:
    """A project of the cameras top and bottom with each view's labels (the first ``rows``)."""
    body = {"name": "cams", "keypoints": BODY_PARTS, "views": ["top", "bottom"]}
    project = c.post("/projects", json=body).json()["id"]
    for view in ("top", "bottom"):
        resp = c.put(
            f"/projects/{project}/labels",
            params={"filename": f"{view}.zip", "view": view},
            content=camera_labels_zip(camera_dir, view, rows=rows),
        )
        assert resp.status_code == 200, resp.text
    return project


def test_a_camera_task_writes_both_views_label_files(api: Api, tmp_path) -> None:
    camera_dir = make_camera_project(tmp_path / "cameras", video_frames=1).parent
    token, browser = api.sign_in("dora")
    with api.client(token) as c:
        project = _camera_project(c, camera_dir, rows=3)
    opened = _open(api, token, project)
    assert opened["tasks_made"] == 3  # one per moment, not per view
    tasks = browser.get("/labelstudio/api/tasks", params={"project": opened["ls_project_id"]}).json()
    tasks = tasks["tasks"] if isinstance(tasks, dict) else tasks
    task = tasks[0]
    assert set(task["data"]) == {"image_top", "image_bottom"}
    images, sizes = {}, {}
    for view in ("top", "bottom"):
        url = task["data"][f"image_{view}"]
        images[view] = url.split("/frames/", 1)[1]
        sizes[view] = Image.open(io.BytesIO(browser.get(url).content)).size
    assert images["bottom"] == images["top"].replace("/top/", "/bottom/")
    with api.client(token) as c:  # the pages find the moment's task from either view's row
        listed = {t["task_id"]: t for t in c.get(f"/projects/{project}/labeling/tasks").json()["tasks"]}
    assert listed[task["id"]]["rows"] == images

    placed = {"top": ("nose", 33.3, 44.4), "bottom": ("tailBase", 55.5, 66.6)}
    result = [
        {"type": "keypointlabels", "from_name": f"keypoints_{view}", "to_name": f"frame_{view}",
         "original_width": sizes[view][0], "original_height": sizes[view][1], "image_rotation": 0,
         "value": {"x": x, "y": y, "width": 0.5, "keypointlabels": [keypoint]}}
        for view, (keypoint, x, y) in placed.items()
    ]  # fmt: skip
    made = browser.post(f"/labelstudio/api/tasks/{task['id']}/annotations/", json={"result": result})
    assert made.status_code == 201, made.text

    for view, (keypoint, x, y) in placed.items():
        width, height = sizes[view]
        row = _wait(
            lambda view=view, keypoint=keypoint, x=x, width=width: (
                np.isclose(_point(r := _view_labels(api, token, project, view).loc[images[view]], keypoint)[0],
                           x / 100 * width - 0.5) and r
            )
        )  # fmt: skip
        assert _point(row, keypoint) == pytest.approx(
            (x / 100 * width - 0.5, y / 100 * height - 0.5), abs=1e-9
        )
        others = [k for k in BODY_PARTS if k != keypoint]
        assert all(np.isnan(_point(row, k)).all() for k in others)  # this view's other points: absent
    top, bottom = (_view_labels(api, token, project, v) for v in ("top", "bottom"))
    assert len(top) == len(bottom) == 3  # the files stay row for row the same moments
    assert [i.replace("/top/", "/bottom/") for i in top.index] == list(bottom.index)


@pytest.mark.timeout(900)  # a training, a prediction of both cameras' videos
def test_a_camera_round_from_a_model_mines_the_session_and_pre_annotates_every_view(
    api: Api, worker, tmp_path
) -> None:
    """A round that starts from a model in a camera project: the model predicts both cameras'
    videos, the session's moments are scored across the views (the multi-view PCA error among the
    metrics) and each pick becomes one task carrying the model's keypoints in both views."""
    camera_dir = make_camera_project(tmp_path / "cameras", video_frames=40).parent
    token, browser = api.sign_in("erin")
    with api.client(token) as c:
        project = _camera_project(c, camera_dir)
        videos = {}
        for name, view in (("run1_top", "top"), ("run1_bottom", "bottom"), ("run2_top", "top")):
            resp = c.post(
                f"/projects/{project}/videos",
                params={"filename": f"{name}.mp4"},
                content=(camera_dir / "videos" / f"test_vid_{view}.mp4").read_bytes(),
            )
            assert resp.status_code == 201, resp.text
            videos[name] = resp.json()["id"]
    opened = _open(api, token, project)
    with api.client(token) as c:
        model = c.post(f"/projects/{project}/models", json={"name": "m", "train": TINY}).json()
        _job(c, project, model["train_job_id"])

        lone = c.post(f"/projects/{project}/rounds", json={"budget": 3, "model_id": model["id"]})
        assert lone.status_code == 409, lone.text  # run2 has no bottom video: say so, queue nothing
        assert "run2_top.mp4: its session has no bottom video yet" in lone.json()["detail"]
        one_session = [videos["run1_top"], videos["run1_bottom"]]  # either view names the session
        started = c.post(
            f"/projects/{project}/rounds",
            json={"budget": 3, "model_id": model["id"], "video_ids": one_session},
        )
        assert started.status_code == 201, started.text
        assert started.json()["videos"] == ["run1_top.mp4"]  # the session is mined once, not per view
        (job,) = [j for j in c.get(f"/projects/{project}/jobs").json() if j["kind"] == "select_frames"]
        done = _job(c, project, job["id"])
        frames = pd.read_csv(
            io.BytesIO(c.get(f"/projects/{project}/jobs/{done['id']}/artifacts/frames.csv").content)
        )
        picks = _artifact(c, project, done, "preannotations.csv")
    moments = sorted(set(frames["frame"]))
    assert len(moments) == 3 and len(frames) == 6
    assert sorted(picks.index) == sorted(frames["image"])  # the model's keypoints in both views
    assert np.isfinite(picks.to_numpy(float)).all()

    def picked_tasks() -> list[dict] | None:
        tasks = [
            t for t in _tasks(browser, opened["ls_project_id"]) if "/run1_top/" in t["data"]["image_top"]
        ]
        return tasks if len(tasks) == 3 and all(t["total_predictions"] == 1 for t in tasks) else None

    for task in _wait(picked_tasks, timeout=30):
        (prediction,) = browser.get(f"/labelstudio/api/tasks/{task['id']}").json()["predictions"]
        views = {r["from_name"] for r in prediction["result"]}
        assert views == {"keypoints_top", "keypoints_bottom"} and prediction["model_version"] == "m"
