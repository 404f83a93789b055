"""Labeling through posecloud against a real Label Studio: projects and tasks, labels back into the
label file (exact pixels, within seconds), the labeling interface kept as posecloud sets it, and
missed webhooks caught up."""

from __future__ import annotations

import io
import time

import httpx
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.app.labelstudio.conftest import Api, start_api, stop_api
from tests.testdata import TOY, TOY_VIDEO


def _labels(api: Api, token: str, project: int) -> pd.DataFrame:
    with api.client(token) as c:
        resp = c.get(f"/projects/{project}/labels")
    assert resp.status_code == 200, resp.text
    return pd.read_csv(io.BytesIO(resp.content), header=[0, 1, 2], index_col=0)


def _point(row: pd.Series, keypoint: str) -> tuple[float, float]:
    """(x, y) of ``keypoint`` in one row of a DeepLabCut-style label table."""
    one = row.xs(keypoint, level=1)
    return float(one.xs("x", level=1).iloc[0]), float(one.xs("y", level=1).iloc[0])


def _open(api: Api, token: str, project: int) -> dict:
    with api.client(token) as c:
        resp = c.post(f"/projects/{project}/labeling")
    assert resp.status_code == 200, resp.text
    return resp.json()


def _wait(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None and value is not False:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_labelers_annotation_reaches_the_label_file_exactly(api: Api, toy, labelstudio) -> None:
    token, browser, project = toy
    opened = _open(api, token, project)
    assert (
        opened["tasks_made"] == 90
        and opened["url"] == f"/labelstudio/projects/{opened['ls_project_id']}/data"
    )
    page = browser.get(opened["url"])
    assert page.status_code == 200 and "<html" in page.text.lower()

    ls_project = browser.get(f"/labelstudio/api/projects/{opened['ls_project_id']}").json()
    assert ls_project["label_config"].count("<Label ") == 17 and 'maxUsages="1"' in ls_project["label_config"]
    assert "Skeleton" in ls_project["expert_instruction"] and "<svg" in ls_project["expert_instruction"]
    tasks = browser.get(
        "/labelstudio/api/tasks", params={"project": opened["ls_project_id"], "page_size": 100}
    ).json()
    tasks = tasks["tasks"] if isinstance(tasks, dict) else tasks
    assert len(tasks) == 90
    assert all(t["total_annotations"] == 1 for t in tasks)  # the toy labels, to correct

    with api.client(token) as c:
        progress = c.get(f"/projects/{project}/labeling/progress").json()
    assert progress["frames"] == 90 and progress["labeled"] == 90

    task = browser.get(f"/labelstudio/api/tasks/{tasks[0]['id']}").json()
    frame = browser.get(task["data"]["image"])  # served by posecloud, with the access check
    assert frame.status_code == 200
    width, height = Image.open(io.BytesIO(frame.content)).size
    image = task["data"]["image"].split("/frames/", 1)[1]

    result = [
        {"type": "keypointlabels", "from_name": "keypoints", "to_name": "frame", "original_width": width,
         "original_height": height, "image_rotation": 0,
         "value": {"x": 12.3456789, "y": 65.4321, "width": 0.5, "keypointlabels": [name]}}
        for name in ("paw1LH_top", "nose_bot")
    ]  # fmt: skip
    submitted = time.monotonic()
    made = browser.post(
        f"/labelstudio/api/tasks/{task['id']}/annotations/", json={"result": result, "lead_time": 12.5}
    )
    assert made.status_code == 201, made.text

    def row_has_the_new_point():
        row = _labels(api, token, project).loc[image]
        return row if np.isclose(_point(row, "paw1LH_top")[0], 12.3456789 / 100 * width - 0.5) else None

    row = _wait(row_has_the_new_point)
    assert time.monotonic() - submitted < 5
    assert _point(row, "paw1LH_top")[0] == pytest.approx(12.3456789 / 100 * width - 0.5, abs=1e-9)
    assert _point(row, "paw1LH_top")[1] == pytest.approx(65.4321 / 100 * height - 0.5, abs=1e-9)
    assert _point(row, "nose_bot")[0] == pytest.approx(12.3456789 / 100 * width - 0.5, abs=1e-9)
    assert np.isnan(_point(row, "tailBase_top")).all()  # not placed: absent
    # the frame's labels are now alice's: the labelers' figures say so, with Label Studio's timing
    with api.client(token) as c:
        labelers = c.get(f"/projects/{project}/labeling/labelers").json()
        qc = c.get(f"/projects/{project}/labels/qc").json()
    flagged = {f["image"] for view in qc["views"] for f in view["flagged"]}
    assert labelers == [
        {"labeler": None, "frames": 89, "median_seconds_per_frame": None, "flagged": len(flagged - {image})},
        {"labeler": "alice", "frames": 1, "median_seconds_per_frame": 12.5, "flagged": int(image in flagged)},
    ]

    # an update moves the point; deleting every annotation of the task removes the frame's labels
    result[0]["value"]["x"] = 50.0
    assert (
        browser.patch(
            f"/labelstudio/api/annotations/{made.json()['id']}/", json={"result": result}
        ).status_code
        == 200
    )
    _wait(
        lambda: np.isclose(
            _point(_labels(api, token, project).loc[image], "paw1LH_top")[0], 0.5 * width - 0.5
        )
    )
    for annotation in browser.get(f"/labelstudio/api/tasks/{task['id']}/annotations/").json():
        assert browser.delete(f"/labelstudio/api/annotations/{annotation['id']}/").status_code == 204
    _wait(lambda: image not in _labels(api, token, project).index)
    assert len(_labels(api, token, project)) == 89
    # every state the label file reached is a label version
    with api.client(token) as c:
        versions = c.get(f"/projects/{project}/labels/versions").json()
    assert [v["number"] for v in versions] == list(range(len(versions), 0, -1)) and len(versions) >= 4
    assert (versions[-1]["source"], versions[-1]["labeled_frames"]) == ("upload", 90)
    assert (versions[0]["source"], versions[0]["labeled_frames"]) == ("labelstudio", 89)


def test_the_imported_labels_survive_the_round_trip_through_label_studio(api: Api, toy) -> None:
    token, _, project = toy
    before = _labels(api, token, project)
    _open(api, token, project)
    with api.client(token) as c:
        synced = c.post(f"/projects/{project}/labeling/sync").json()
    assert synced["tasks"] == 90 and synced["labeled"] == 90 and synced["tasks_made"] == 0
    after = _labels(api, token, project)
    assert list(after.index) == list(before.index)
    np.testing.assert_allclose(after.to_numpy(float), before.to_numpy(float), rtol=0, atol=1e-9)


def test_a_config_edited_by_hand_is_put_back(api: Api, toy, labelstudio) -> None:
    token, _, project = toy
    opened = _open(api, token, project)
    import httpx

    admin = {"Authorization": f"Token {labelstudio.secrets.token}"}
    edited = '<View><Image name="frame" value="$image"/><KeyPointLabels name="keypoints" toName="frame"><Label value="nose"/></KeyPointLabels></View>'
    resp = httpx.patch(
        f"{labelstudio.url}/api/projects/{opened['ls_project_id']}",
        json={"label_config": edited},
        headers=admin,
    )
    assert resp.status_code == 200, resp.text
    with api.client(token) as c:
        synced = c.post(f"/projects/{project}/labeling/sync").json()
    assert "put back" in synced["config"]
    config = httpx.get(f"{labelstudio.url}/api/projects/{opened['ls_project_id']}", headers=admin).json()[
        "label_config"
    ]
    assert config.count("<Label ") == 17


def test_annotations_made_while_posecloud_was_down_are_caught_up(
    api: Api, toy, labelstudio, api_port, redis_url, tmp_path
) -> None:
    import httpx

    token, browser, project = toy
    opened = _open(api, token, project)
    task = browser.get("/labelstudio/api/tasks", params={"project": opened["ls_project_id"]}).json()
    task = (task["tasks"] if isinstance(task, dict) else task)[0]
    image = task["data"]["image"].split("/frames/", 1)[1]
    stop_api(api)  # the webhook finds nobody: missed
    admin = {"Authorization": f"Token {labelstudio.secrets.token}"}
    with Image.open(TOY / image) as frame:
        width, height = frame.size
    result = [{"type": "keypointlabels", "from_name": "keypoints", "to_name": "frame", "original_width": width,
               "original_height": height, "image_rotation": 0,
               "value": {"x": 40.0, "y": 40.0, "width": 0.5, "keypointlabels": ["nose_top"]}}]  # fmt: skip
    made = httpx.post(
        f"{labelstudio.url}/api/tasks/{task['id']}/annotations/", json={"result": result}, headers=admin
    )
    assert made.status_code == 201, made.text
    again = start_api(api_port, api.data_root, labelstudio, redis_url, sync_s=1.0)
    try:
        row = _wait(
            lambda: (
                _point(r := _labels(again, token, project).loc[image], "nose_top")[0] == 0.4 * width - 0.5
                and r
            ),
            timeout=30,
        )
        assert np.isnan(_point(row, "paw1LH_top")).all()  # the newest annotation is the frame's labels
    finally:
        stop_api(again)


def test_label_studio_down_gives_clear_errors_and_loses_nothing(api: Api, toy, labelstudio) -> None:
    token, browser, project = toy
    opened = _open(api, token, project)
    task = browser.get("/labelstudio/api/tasks", params={"project": opened["ls_project_id"]}).json()
    task = (task["tasks"] if isinstance(task, dict) else task)[0]
    image = task["data"]["image"].split("/frames/", 1)[1]
    before = _labels(api, token, project)
    with Image.open(TOY / image) as frame:
        width, height = frame.size
    result = [{"type": "keypointlabels", "from_name": "keypoints", "to_name": "frame", "original_width": width,
               "original_height": height, "image_rotation": 0,
               "value": {"x": 25.0, "y": 75.0, "width": 0.5, "keypointlabels": ["nose_top"]}}]  # fmt: skip
    assert httpx.get(f"{api.url}/health").json()["parts"]["labelstudio"]["state"] == "up"
    labelstudio.stop()
    try:
        health = httpx.get(f"{api.url}/health")  # reported, not required: the rest of posecloud works
        assert health.status_code == 200 and health.json()["parts"]["labelstudio"]["state"] == "down"
        refused = browser.post(f"/labelstudio/api/tasks/{task['id']}/annotations/", json={"result": result})
        assert refused.status_code == 503 and "does not answer" in refused.json()["detail"]
        with api.client(token) as c:
            down = c.post(f"/projects/{project}/labeling/sync")
        assert down.status_code == 503 and "nothing is lost" in down.json()["detail"]
        after = _labels(api, token, project)  # the labels are all still there
        assert list(after.index) == list(before.index)
        np.testing.assert_allclose(after.to_numpy(float), before.to_numpy(float), rtol=0, atol=1e-9)
    finally:
        labelstudio.start()
        labelstudio.wait_ready()
    made = browser.post(f"/labelstudio/api/tasks/{task['id']}/annotations/", json={"result": result})
    assert made.status_code == 201, made.text
    _wait(
        lambda: np.isclose(_point(_labels(api, token, project).loc[image], "nose_top")[0], 0.25 * width - 0.5)
    )


def test_extracted_frames_become_tasks_and_a_labelers_clicks_make_the_label_file(api: Api, worker) -> None:
    token, browser = api.sign_in("carol")
    with api.client(token) as c:
        project = c.post(
            "/projects", json={"name": "fresh", "keypoints": ["nose", "tail"], "skeleton": [["nose", "tail"]]}
        ).json()["id"]
        video = c.post(
            f"/projects/{project}/videos", params={"filename": "test_vid.mp4"}, content=TOY_VIDEO.read_bytes()
        ).json()
        job = c.post(f"/projects/{project}/videos/{video['id']}/extract-frames", json={"n": 3}).json()
        done = _wait(
            lambda: (
                (j := c.get(f"/projects/{project}/jobs/{job['id']}").json())["state"]
                in ("succeeded", "failed")
                and j
            ),
            timeout=240,
        )
        assert done["state"] == "succeeded", done
        assert c.get(f"/projects/{project}/labels").status_code == 404  # nothing labeled yet
    opened = _open(api, token, project)
    assert opened["tasks_made"] == 3  # the picks, not their context frames
    tasks = browser.get("/labelstudio/api/tasks", params={"project": opened["ls_project_id"]}).json()
    tasks = tasks["tasks"] if isinstance(tasks, dict) else tasks
    assert sorted(t["data"]["image"].rsplit("/", 2)[1] for t in tasks) == ["test_vid"] * 3
    assert all(t["total_annotations"] == 0 for t in tasks)
    task = tasks[0]
    image = task["data"]["image"].split("/frames/", 1)[1]
    width, height = Image.open(io.BytesIO(browser.get(task["data"]["image"]).content)).size
    assert (width, height) == (video["width"], video["height"])
    result = [{"type": "keypointlabels", "from_name": "keypoints", "to_name": "frame", "original_width": width,
               "original_height": height, "image_rotation": 0,
               "value": {"x": 30.5, "y": 20.25, "width": 0.5, "keypointlabels": ["tail"]}}]  # fmt: skip
    assert (
        browser.post(f"/labelstudio/api/tasks/{task['id']}/annotations/", json={"result": result}).status_code
        == 201
    )
    labels = _wait(
        lambda: (r := api.client(token).get(f"/projects/{project}/labels")).status_code == 200 and r
    )
    table = pd.read_csv(io.BytesIO(labels.content), header=[0, 1, 2], index_col=0)
    assert list(table.index) == [image]
    assert _point(table.loc[image], "tail") == pytest.approx(
        (0.305 * width - 0.5, 0.2025 * height - 0.5), abs=1e-9
    )
    assert np.isnan(_point(table.loc[image], "nose")).all()
    with api.client(token) as c:
        progress = c.get(f"/projects/{project}/labeling/progress").json()
    assert progress == {"frames": 3, "labeled": 1, "keypoints": {"nose": 0, "tail": 1}}
