"""Labeling rounds against a real Label Studio and a real worker: a first round picks varied
postures from a video; once a simulated labeler has labeled them, its training makes an ensemble
from scratch; the second round mines the video with that ensemble (the reasons of each pick, the
ensemble's spread), becomes Label Studio tasks with its keypoints, and its training fine-tunes each
member from the first round's member with the same seed, with half the epochs; the rounds list shows
both rounds' test errors. And the requests' errors."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from app.rounds import stop_hint
from tests.app.labelstudio.conftest import Api
from tests.app.labelstudio.test_labeling import _wait
from tests.app.labelstudio.test_model_assisted import _tasks
from tests.testdata import TINY


def _round(c, project: int, number: int, until: tuple[str, ...], timeout: float = 900) -> dict:
    found = _wait(
        lambda: (
            (r := c.get(f"/projects/{project}/rounds/{number}").json())["state"] in (*until, "failed") and r
        ),
        timeout=timeout,
    )
    assert found["state"] in until, found
    return found


def _label(c, project: int, images: list[str]) -> None:
    """The simulated labeler: each image gets the keypoints of a labeled frame, moved by 1 px per pick."""
    table = pd.read_csv(
        io.BytesIO(c.get(f"/projects/{project}/labels").content), header=[0, 1, 2], index_col=0
    )
    template = table.iloc[0].to_numpy(float)
    for i, image in enumerate(images):
        table.loc[image] = template + i + 1
    resp = c.put(
        f"/projects/{project}/labels", params={"filename": "labels.csv"}, content=table.to_csv().encode()
    )
    assert resp.status_code == 200, resp.text


@pytest.mark.timeout(1800)  # four trainings and two predictions of a clip on a shared CPU
def test_two_rounds_pick_label_train_then_fine_tune(api: Api, toy, worker, toy_clip) -> None:
    token, browser, project = toy
    with api.client(token) as c:
        video = c.post(
            f"/projects/{project}/videos", params={"filename": "clip.mp4"}, content=toy_clip.read_bytes()
        ).json()
        assert video["frames"] == 40
        first = c.post(f"/projects/{project}/rounds", json={"budget": 3})
        assert first.status_code == 201, first.text
        assert first.json()["started_from"] is None and first.json()["videos"] == ["clip.mp4"]
        one = _round(c, project, 1, ("labeling",))
        assert len(one["frames"]) == 3 and one["labeled"] == 0
        assert all(f["reasons"] == ["varied postures"] and not f["labeled"] for f in one["frames"])
        refused = c.post(f"/projects/{project}/rounds/1/train", json={"train": TINY})
        assert (
            refused.status_code == 409 and "3 of its 3 frames are not labeled yet" in refused.json()["detail"]
        )

        _label(c, project, [f["image"] for f in one["frames"]])
        assert c.get(f"/projects/{project}/rounds/1").json()["state"] == "ready to train"
        trained = c.post(f"/projects/{project}/rounds/1/train", json={"train": TINY, "seeds": [0, 1]})
        assert trained.status_code == 201, trained.text
        assert trained.json()["trained"] == "round-1"
        one = _round(c, project, 1, ("trained",))
        assert one["fine_tuned"] is False and one["labeled_frames"] == 93 and one["test_px_error"] > 0

        second = c.post(f"/projects/{project}/rounds", json={"budget": 2})
        assert second.status_code == 201, second.text
        assert second.json()["started_from"] == "round-1"
        two = _round(c, project, 2, ("labeling",))
        assert len(two["frames"]) == 2 and two["spread_px"] > 0
        known = {"jump", "Pose PCA error", "ensemble spread", "low confidence", "varied postures"}
        assert all(f["reasons"] and set(f["reasons"]) <= known for f in two["frames"])
        again = c.post(f"/projects/{project}/rounds", json={"budget": 2})
        assert again.status_code == 409 and "round 2 has not trained yet" in again.json()["detail"]

        def round_tasks() -> list[dict] | None:
            """The second round's picks as tasks carrying the ensemble's keypoints, once synced."""
            images = {f["image"] for f in two["frames"]}
            ls_project = c.get(f"/projects/{project}/labeling/tasks").json()["url"].split("/")[-2]
            tasks = [
                t
                for t in _tasks(browser, int(ls_project))
                if t["data"]["image"].split("/frames/")[1] in images
            ]
            return tasks if len(tasks) == 2 and all(t["total_predictions"] == 1 for t in tasks) else None

        assert _wait(round_tasks, timeout=30)

        _label(c, project, [f["image"] for f in two["frames"]])
        resp = c.post(f"/projects/{project}/rounds/2/train", json={"train": {"val_every_n_epochs": 1}})
        assert resp.status_code == 201, resp.text
        two = _round(c, project, 2, ("trained",))
        assert two["fine_tuned"] is True and two["labeled_frames"] == 95
        models = {m["name"]: m for m in c.get(f"/projects/{project}/models").json()}
        for seed in (0, 1):
            member = models[f"round-2-seed{seed}"]
            assert member["started_from"] == f"round-1-seed{seed}"
            assert member["train_config"]["epochs"] == 1 and member["train_config"]["seed"] == seed

        listed = c.get(f"/projects/{project}/rounds").json()
        assert [r["number"] for r in listed["rounds"]] == [1, 2]
        errors = [r["test_px_error"] for r in listed["rounds"]]
        assert all(np.isfinite(errors))
        gain = (errors[0] - errors[1]) / errors[0]
        assert (listed["stop_hint"] is not None) == (gain < 0.05)
        assert c.get(f"/projects/{project}/rounds/3").status_code == 404


def test_round_requests_say_what_is_wrong(api: Api, toy) -> None:
    token, _, project = toy
    with api.client(token) as c:
        none = c.post(f"/projects/{project}/rounds", json={"budget": 3})
        assert none.status_code == 409 and "no videos to mine" in none.json()["detail"]
        assert c.post(f"/projects/{project}/rounds", json={"budget": 0}).status_code == 422
        unknown = c.post(f"/projects/{project}/rounds", json={"budget": 3, "ensemble_id": 99})
        assert unknown.status_code == 404
        assert c.post(f"/projects/{project}/rounds", json={"budget": 3, "video_ids": [99]}).status_code == 404
        assert c.post(f"/projects/{project}/rounds/1/train", json={}).status_code == 404
        assert c.get(f"/projects/{project}/rounds").json() == {"rounds": [], "stop_hint": None}
    assert stop_hint([]) is None
