"""Restoring a label version against a real Label Studio: the label file comes back byte for byte,
recorded as a new version, and Label Studio's annotations are brought in line so that the sync keeps
it; the restore can itself be undone, and Label Studio down refuses it with nothing written."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from PIL import Image

from app.labelstudio.labels import to_pixels
from tests.app.labelstudio.conftest import Api
from tests.app.labelstudio.test_labeling import _open, _wait
from tests.testdata import TOY


def _labels(api: Api, token: str, project: int) -> bytes:
    with api.client(token) as c:
        resp = c.get(f"/projects/{project}/labels")
    assert resp.status_code == 200, resp.text
    return resp.content


def _versions(api: Api, token: str, project: int) -> list[dict]:
    with api.client(token) as c:
        return c.get(f"/projects/{project}/labels/versions").json()


def _restore(api: Api, token: str, project: int, number: int):
    with api.client(token) as c:
        return c.post(f"/projects/{project}/labels/versions/{number}/restore")


def _table(content: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(content), header=[0, 1, 2], index_col=0)


def _annotations(browser, task_id: int) -> list[dict]:
    return browser.get(f"/labelstudio/api/tasks/{task_id}/annotations/").json()


def _annotated_points(annotation: dict) -> dict[str, tuple[float, float]]:
    """Keypoint -> (x, y) pixels of one Label Studio annotation."""
    points = {}
    for region in annotation["result"]:
        value = region["value"]
        width, height = region["original_width"], region["original_height"]
        points[value["keypointlabels"][0]] = to_pixels(value["x"], value["y"], width, height)
    return points


def _row_points(table: pd.DataFrame, image: str) -> dict[str, tuple[float, float]]:
    """Keypoint -> (x, y) of one row of a label table (its labeled keypoints)."""
    row = table.loc[image].droplevel(0)
    return {
        k: (float(row[k]["x"]), float(row[k]["y"]))
        for k in dict.fromkeys(row.index.get_level_values(0))
        if np.isfinite(row[k]).all()
    }


def test_restoring_a_version_brings_back_its_labels_in_the_file_and_in_label_studio(
    api: Api, toy, labelstudio
) -> None:
    token, browser, project = toy
    opened = _open(api, token, project)
    original = _labels(api, token, project)
    (first,) = _versions(api, token, project)  # Label Studio's copy of the upload changes nothing
    tasks = browser.get(
        "/labelstudio/api/tasks", params={"project": opened["ls_project_id"], "page_size": 100}
    ).json()
    tasks = tasks["tasks"] if isinstance(tasks, dict) else tasks
    tasks = {t["data"]["image"].split("/frames/", 1)[1]: t["id"] for t in tasks}
    moved, cleared = sorted(tasks)[3], sorted(tasks)[7]

    # a labeler moves the frame's keypoints (a new annotation: one keypoint), and clears another frame
    with Image.open(TOY / moved) as frame:
        width, height = frame.size
    result = [{"type": "keypointlabels", "from_name": "keypoints", "to_name": "frame", "original_width": width,
               "original_height": height, "image_rotation": 0,
               "value": {"x": 50.0, "y": 50.0, "width": 0.5, "keypointlabels": ["nose_top"]}}]  # fmt: skip
    made = browser.post(f"/labelstudio/api/tasks/{tasks[moved]}/annotations/", json={"result": result})
    assert made.status_code == 201, made.text
    # the version her annotation made names her, whether the webhook or the periodic sync applied it
    newest, _ = _wait(lambda: len(versions := _versions(api, token, project)) == 2 and versions)
    assert (newest["source"], newest["user"], newest["labeled_frames"]) == ("labelstudio", "alice", 90)
    for annotation in _annotations(browser, tasks[cleared]):
        assert browser.delete(f"/labelstudio/api/annotations/{annotation['id']}/").status_code == 204
    changed = _wait(lambda: cleared not in (table := _table(_labels(api, token, project))).index and table)
    assert list(_row_points(changed, moved)) == ["nose_top"]
    before = _versions(api, token, project)
    assert before[0]["labeled_frames"] == 89

    resp = _restore(api, token, project, 1)
    assert resp.status_code == 200, resp.text
    restored = resp.json()
    assert restored["number"] == before[0]["number"] + 1 and restored["sha256"] == first["sha256"]
    assert (restored["source"], restored["user"], restored["labeled_frames"]) == (
        "restore of version 1",
        "alice",
        90,
    )
    assert _labels(api, token, project) == original  # byte for byte

    # Label Studio holds version 1's keypoints, so the sync keeps them
    wanted = _table(original)
    for image in (moved, cleared):
        newest = max(_annotations(browser, tasks[image]), key=lambda a: (a["updated_at"], a["id"]))
        found, expected = _annotated_points(newest), _row_points(wanted, image)
        assert found.keys() == expected.keys() and len(found) > 1
        np.testing.assert_allclose([found[k] for k in found], [expected[k] for k in found], rtol=0, atol=1e-6)
    with api.client(token) as c:
        synced = c.post(f"/projects/{project}/labeling/sync").json()
    assert synced["labeled"] == 90 and synced["tasks_made"] == 0
    assert _labels(api, token, project) == original
    assert _versions(api, token, project)[0] == restored  # the sync made no version

    # undone by restoring the version it replaced: the cleared frame's task stays, unlabeled
    undo = _restore(api, token, project, before[0]["number"])
    assert undo.status_code == 200 and undo.json()["sha256"] == before[0]["sha256"], undo.text
    assert cleared not in _table(_labels(api, token, project)).index
    assert _annotations(browser, tasks[cleared]) == []
    with api.client(token) as c:
        assert c.post(f"/projects/{project}/labeling/sync").json()["labeled"] == 89
        missing = c.post(f"/projects/{project}/labels/versions/99/restore")
    assert missing.status_code == 404 and "has no label version 99" in missing.json()["detail"]

    # Label Studio down: refused before anything is written
    now, versions = _labels(api, token, project), _versions(api, token, project)
    labelstudio.stop()
    try:
        down = _restore(api, token, project, 1)
        assert down.status_code == 503 and "does not answer" in down.json()["detail"]
        assert _labels(api, token, project) == now and _versions(api, token, project) == versions
    finally:
        labelstudio.start()
        labelstudio.wait_ready()
