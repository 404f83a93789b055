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
from tests.testdata import BODY_PARTS, camera_labels_zip, make_camera_project


def _view_labels(api: Api, token: str, project: int, view: str) -> pd.DataFrame:
    with api.client(token) as c:
        resp = c.get(f"/projects/{project}/labels", params={"view": view})
    assert resp.status_code == 200, resp.text
    return pd.read_csv(io.BytesIO(resp.content), header=[0, 1, 2], index_col=0)


def test_a_camera_task_writes_both_views_label_files(api: Api, tmp_path) -> None:
    camera_dir = make_camera_project(tmp_path / "cameras", video_frames=1).parent
    token, browser = api.sign_in("dora")
    with api.client(token) as c:
        body = {"name": "cams", "keypoints": BODY_PARTS, "views": ["top", "bottom"]}
        project = c.post("/projects", json=body).json()["id"]
        for view in ("top", "bottom"):
            resp = c.put(
                f"/projects/{project}/labels",
                params={"filename": f"{view}.zip", "view": view},
                content=camera_labels_zip(camera_dir, view, rows=3),
            )
            assert resp.status_code == 200, resp.text
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
