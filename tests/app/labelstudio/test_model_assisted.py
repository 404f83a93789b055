"""Model-assisted labeling against a real Label Studio and a real worker: a 2-member ensemble's
keypoints pushed onto the tasks as predictions (read back through Label Studio's API, in exact
percent of each frame), and active selection from the ensemble adding tasks that carry its EKS
keypoints; the requests' errors."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from tests.app.labelstudio.conftest import Api
from tests.app.labelstudio.test_labeling import _open, _wait
from tests.testdata import TINY, TOY_VIDEO


def _job(c, project: int, job_id: int, timeout: float = 600) -> dict:
    done = _wait(
        lambda: (
            (j := c.get(f"/projects/{project}/jobs/{job_id}").json())["state"] in ("succeeded", "failed")
            and j
        ),
        timeout=timeout,
    )
    assert done["state"] == "succeeded", done
    return done


def _artifact(c, project: int, job: dict, name: str) -> pd.DataFrame:
    resp = c.get(f"/projects/{project}/jobs/{job['id']}/artifacts/{name}")
    assert resp.status_code == 200, resp.text
    return pd.read_csv(io.BytesIO(resp.content), header=[0, 1, 2], index_col=0)


def _tasks(browser, ls_project: int) -> list[dict]:
    tasks = browser.get("/labelstudio/api/tasks", params={"project": ls_project, "page_size": 1000}).json()
    return tasks["tasks"] if isinstance(tasks, dict) else tasks


def _check_predictions(browser, tasks: list[dict], table: pd.DataFrame, name: str) -> None:
    """Each task's one prediction is ``table``'s keypoints of its frame (pixels) in exact percent."""
    for task in tasks:
        image = task["data"]["image"].split("/frames/", 1)[1]
        (prediction,) = browser.get(f"/labelstudio/api/tasks/{task['id']}").json()["predictions"]
        assert prediction["model_version"] == name
        row = table.loc[image]
        regions = {r["value"]["keypointlabels"][0]: r for r in prediction["result"]}
        assert len(regions) == row.index.get_level_values(1).nunique()
        for keypoint, region in regions.items():
            x, y = (float(row.xs(keypoint, level=1).xs(f, level=1).iloc[0]) for f in ("x", "y"))
            width, height = region["original_width"], region["original_height"]
            assert region["value"]["x"] == pytest.approx((x + 0.5) / width * 100, abs=1e-9)
            assert region["value"]["y"] == pytest.approx((y + 0.5) / height * 100, abs=1e-9)


@pytest.mark.timeout(1800)  # two trainings, two predictions of the video and the EKS on a shared CPU
def test_an_ensemble_pre_annotates_the_tasks_and_selects_frames(api: Api, toy, worker) -> None:
    token, browser, project = toy
    opened = _open(api, token, project)
    with api.client(token) as c:
        video = c.post(
            f"/projects/{project}/videos", params={"filename": "test_vid.mp4"}, content=TOY_VIDEO.read_bytes()
        ).json()
        ensemble = c.post(
            f"/projects/{project}/ensembles", json={"name": "ens", "train": TINY, "seeds": [0, 1]}
        ).json()
        for member in ensemble["members"]:
            _job(c, project, member["train_job_id"])

        job = c.post(f"/projects/{project}/labeling/preannotate", json={"ensemble_id": ensemble["id"]})
        assert job.status_code == 201, job.text
        done = _job(c, project, job.json()["id"])
        table = _artifact(c, project, done, "preannotations.csv")
        assert len(table) == 90 and np.isfinite(table.to_numpy(float)).all()
        synced = c.post(f"/projects/{project}/labeling/sync").json()
        assert synced["predictions_made"] == 90
        assert c.post(f"/projects/{project}/labeling/sync").json()["predictions_made"] == 0  # once
    tasks = _tasks(browser, opened["ls_project_id"])
    assert len(tasks) == 90
    _check_predictions(browser, tasks, table, "ens")

    with api.client(token) as c:
        job = c.post(
            f"/projects/{project}/labeling/select",
            json={"video_id": video["id"], "ensemble_id": ensemble["id"], "n": 3},
        )
        assert job.status_code == 201, job.text
        assert len(job.json()["members"]) == 2  # each member predicts the video
        done = _job(c, project, job.json()["id"])
        picks = _artifact(c, project, done, "preannotations.csv")
        frames = pd.read_csv(
            io.BytesIO(c.get(f"/projects/{project}/jobs/{done['id']}/artifacts/frames.csv").content)
        )
        assert list(frames["image"]) == list(picks.index) and len(picks) == 3
        assert np.isfinite(picks.to_numpy(float)).all()  # the EKS's keypoints on the picks
        # the picks' frames and their t±2 context are in the project
        for frame in frames["frame"]:
            for t in range(frame - 2, frame + 3):
                if 0 <= t < video["frames"]:
                    name = f"labeled-data/test_vid/img{t:08d}.png"
                    assert c.get(f"/projects/{project}/frames/{name}").status_code == 200

    def selected() -> list[dict] | None:
        """The picks' tasks, once the sync has made them with their predictions."""
        tasks = [t for t in _tasks(browser, opened["ls_project_id"]) if "/test_vid/" in t["data"]["image"]]
        return tasks if len(tasks) == 3 and all(t["total_predictions"] == 1 for t in tasks) else None

    new = _wait(selected, timeout=30)
    _check_predictions(browser, new, picks, "ens")
    assert all(t["total_annotations"] == 0 for t in new)  # to label, starting from the EKS


def test_pre_annotation_and_selection_requests_say_what_is_wrong(api: Api, toy, labelstudio) -> None:
    token, _, project = toy
    with api.client(token) as c:
        video = c.post(
            f"/projects/{project}/videos", params={"filename": "test_vid.mp4"}, content=TOY_VIDEO.read_bytes()
        ).json()
        for path, body in (("preannotate", {}), ("select", {"video_id": video["id"]})):
            unknown = c.post(f"/projects/{project}/labeling/{path}", json={**body, "model_id": 999})
            assert unknown.status_code == 404 and "model 999 not found" in unknown.json()["detail"]
            both = c.post(
                f"/projects/{project}/labeling/{path}", json={**body, "model_id": 1, "ensemble_id": 1}
            )
            assert both.status_code == 422 and "exactly one" in both.json()["detail"]
        model = c.post(f"/projects/{project}/models", json={"name": "m", "train": TINY}).json()  # no worker
        for path, body in (("preannotate", {}), ("select", {"video_id": video["id"]})):
            untrained = c.post(f"/projects/{project}/labeling/{path}", json={**body, "model_id": model["id"]})
            assert untrained.status_code == 409 and "not finished training" in untrained.json()["detail"]

        empty = c.post("/projects", json={"name": "empty", "keypoints": ["nose"]}).json()["id"]
        assert (
            c.post(f"/projects/{empty}/labeling/preannotate", json={"model_id": model["id"]}).status_code
            == 404
        )
        theirs = c.post(f"/projects/{empty}/models", json={"name": "m", "train": TINY}).json()
        no_frames = c.post(f"/projects/{empty}/labeling/preannotate", json={"model_id": theirs["id"]})
        assert no_frames.status_code == 409 and "no frames to label yet" in no_frames.json()["detail"]

        labelstudio.stop()
        try:
            down = c.post(f"/projects/{project}/labeling/preannotate", json={"model_id": model["id"]})
            assert down.status_code == 503 and "nothing is lost" in down.json()["detail"]
        finally:
            labelstudio.start()
            labelstudio.wait_ready()
        jobs = c.get(f"/projects/{project}/jobs").json()
    assert sorted(j["kind"] for j in jobs) == ["train", "transcode"]  # nothing else was queued
