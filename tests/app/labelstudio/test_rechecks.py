"""Labelers' consistency with themselves, against a real Label Studio: their frames shown again,
blind, as new tasks that never touch the label file; the distance between their two labels of a
frame, per labeler and keypoint; roles and the proxy."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from PIL import Image

from tests.app.labelstudio.conftest import Api
from tests.app.labelstudio.test_labeling import _labels, _open, _wait
from tests.app.labelstudio.test_model_assisted import _tasks

KEYPOINTS = ("paw1LH_top", "nose_bot")


def _annotate(browser, task: dict, size: tuple[int, int], points: dict[str, tuple[float, float]]) -> None:
    """Submit an annotation with ``points`` (keypoint -> x, y in frame pixels) on ``task``."""
    width, height = size
    result = [
        {"type": "keypointlabels", "from_name": "keypoints", "to_name": "frame", "original_width": width,
         "original_height": height, "image_rotation": 0,
         "value": {"x": (x + 0.5) / width * 100, "y": (y + 0.5) / height * 100, "width": 0.5,
                   "keypointlabels": [name]}}
        for name, (x, y) in points.items()
    ]  # fmt: skip
    made = browser.post(f"/labelstudio/api/tasks/{task['id']}/annotations/", json={"result": result})
    assert made.status_code == 201, made.text


def test_labelers_see_their_frames_again_blind_and_their_disagreement_is_measured(api: Api, toy) -> None:
    token, alice, project = toy
    ls_project = _open(api, token, project)["ls_project_id"]
    bob_token, bob = api.sign_in("bob")
    _, stranger = api.sign_in("mallory")
    with api.client(token) as c:
        assert (
            c.post(f"/projects/{project}/members", json={"username": "bob", "role": "labeler"}).status_code
            == 201
        )
        nobody = c.post(f"/projects/{project}/labeling/rechecks", json={"fraction": 0.5})
        assert nobody.status_code == 409 and "uploaded labels are not re-checked" in nobody.json()["detail"]
        assert c.post(f"/projects/{project}/labeling/rechecks", json={"fraction": 0}).status_code == 422
    tasks = _tasks(alice, ls_project)
    frame = alice.get(alice.get(f"/labelstudio/api/tasks/{tasks[0]['id']}").json()["data"]["image"])
    size = Image.open(io.BytesIO(frame.content)).size
    first = {tasks[0]["id"]: (40.0, 30.0), tasks[1]["id"]: (60.0, 20.0)}
    for task in tasks[:2]:  # alice labels two frames, bob one
        _annotate(alice, task, size, dict.fromkeys(KEYPOINTS, first[task["id"]]))
    _annotate(bob, tasks[2], size, dict.fromkeys(KEYPOINTS, (10.0, 10.0)))
    images = {t["id"]: t["data"]["image"].split("/frames/", 1)[1] for t in tasks}
    _wait(lambda: abs(_labels(api, token, project).loc[images[tasks[2]["id"]]].iloc[0] - 10.0) < 1e-6)
    labels_before = _labels(api, token, project)

    with api.client(bob_token) as c:  # a labeler labels; choosing what to re-show runs the project
        assert c.post(f"/projects/{project}/labeling/rechecks", json={"fraction": 1.0}).status_code == 403
    with api.client(token) as c:
        # two requests at once (a form sent from two tabs): the frames are shown once
        with ThreadPoolExecutor(2) as pool:
            both = list(
                pool.map(
                    lambda _: c.post(
                        f"/projects/{project}/labeling/rechecks", json={"fraction": 1.0, "seed": 0}
                    ),
                    range(2),
                )
            )
        made, refused = sorted(both, key=lambda r: r.status_code)
        assert made.status_code == 201, made.text
        assert made.json() == {"shown": {"alice": 2, "bob": 1}}
        assert refused.status_code == 409 and "every one shown again already" in refused.json()["detail"]
        again = c.post(f"/projects/{project}/labeling/rechecks", json={"fraction": 1.0})
        assert again.status_code == 409 and "every one shown again already" in again.json()["detail"]
        assert c.get(f"/projects/{project}/labeling/progress").json()["frames"] == 90  # the frames' own tasks

    shown = [t for t in _tasks(alice, ls_project) if t["id"] not in images]
    assert len(shown) == 3
    assert all(t["total_annotations"] == 0 and t["total_predictions"] == 0 for t in shown)  # blind
    # nothing on a re-shown task says which frame it repeats (not its address, video or frame
    # number); its image is the frame's
    addresses = [t["data"]["image"] for t in shown]
    assert not any("labeled-data" in a or "img" in a for a in addresses) and len(set(addresses)) == 3
    original = {alice.get(t["data"]["image"]).content: t["id"] for t in tasks[:3]}
    assert len(original) == 3  # three different frames
    by_original = {original[alice.get(a).content]: t for a, t in zip(addresses, shown, strict=True)}
    assert set(by_original) == {t["id"] for t in tasks[:3]}
    # bob reaches his re-shown frame through the proxy and its image; someone outside the project
    # does not, nor an alias guessed or taken to another project
    bobs = by_original[tasks[2]["id"]]
    assert bob.get(f"/labelstudio/api/tasks/{bobs['id']}").status_code == 200
    assert bob.get(bobs["data"]["image"]).status_code == 200
    assert stranger.get(f"/labelstudio/api/tasks/{bobs['id']}").status_code == 404
    assert stranger.get(bobs["data"]["image"]).status_code == 404
    alias = bobs["data"]["image"].rsplit("/", 1)[1]
    for wrong in (f"shown/{alias[:-6]}x-0.png", f"shown/{alias.replace('-0.', '-1.')}", f"shown/{alias}/.."):
        assert alice.get(f"/projects/{project}/frames/{wrong}").status_code == 404, wrong
    with api.client(token) as c:
        elsewhere = c.post("/projects", json={"name": "other", "keypoints": ["nose"]}).json()["id"]
    assert alice.get(f"/projects/{elsewhere}/frames/shown/{alias}").status_code == 404

    # alice labels hers again: one frame 5 px away (3, 4), the other where she put it; bob's is
    # labeled by alice instead, which says nothing of bob's consistency
    one, two = (by_original[t["id"]] for t in tasks[:2])
    x, y = first[tasks[0]["id"]]
    _annotate(alice, one, size, dict.fromkeys(KEYPOINTS, (x + 3, y + 4)))
    _annotate(alice, two, size, dict.fromkeys(KEYPOINTS, first[tasks[1]["id"]]))
    _annotate(alice, bobs, size, dict.fromkeys(KEYPOINTS, (99.0, 99.0)))
    with api.client(token) as c:
        assert c.post(f"/projects/{project}/labeling/sync").status_code == 200
        figures = {f["labeler"]: f for f in c.get(f"/projects/{project}/labeling/rechecks").json()}
    assert figures["alice"]["shown"] == 2 and figures["alice"]["relabeled"] == 2
    assert figures["alice"]["median_px"] == pytest.approx(2.5, abs=1e-6)  # [5, 5, 0, 0]
    assert all(figures["alice"]["keypoints_px"][k] == pytest.approx(2.5, abs=1e-6) for k in KEYPOINTS)
    assert figures["alice"]["keypoints_px"]["tailBase_top"] is None
    assert (figures["bob"]["shown"], figures["bob"]["relabeled"], figures["bob"]["by_others"]) == (1, 0, 1)
    assert figures["bob"]["median_px"] is None
    # the second labels never reached the label file, even after a full sync
    pd.testing.assert_frame_equal(_labels(api, token, project), labels_before)
