"""A project with separate synchronized cameras through the app and a real worker: per-view labels,
a session's videos, frames extracted from every view alike, a semi-supervised ensemble with the
multi-view PCA loss across the cameras, predictions of a session's views by one model and by the
ensemble (the multi-camera EKS)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.conftest import SQLITE_ONLY
from tests.testdata import BODY_PARTS, TINY, camera_labels_zip, make_camera_project
from tests.worker.conftest import wait_for


@pytest.fixture(scope="module")
def camera_dir(tmp_path_factory):
    return make_camera_project(tmp_path_factory.mktemp("cameras"), video_frames=40).parent


@SQLITE_ONLY
def test_a_camera_project_extracts_trains_and_predicts_across_views(
    client: TestClient, alice, camera_dir, start_worker
) -> None:
    body = {"name": "cams", "keypoints": BODY_PARTS, "views": ["top", "bottom"]}
    p = client.post("/projects", json=body, headers=alice).json()["id"]
    for view in ("top", "bottom"):
        resp = client.put(
            f"/projects/{p}/labels",
            params={"filename": f"{view}.zip", "view": view},
            content=camera_labels_zip(camera_dir, view),
            headers=alice,
        )
        assert resp.status_code == 200, resp.text
    videos = {}
    for view in ("top", "bottom"):
        resp = client.post(
            f"/projects/{p}/videos",
            params={"filename": f"run1_{view}.mp4"},
            content=(camera_dir / "videos" / f"test_vid_{view}.mp4").read_bytes(),
            headers=alice,
        )
        assert resp.status_code == 201, resp.text
        videos[view] = resp.json()["id"]
    start_worker(1)

    extracted = client.post(
        f"/projects/{p}/videos/{videos['top']}/extract-frames",
        json={"frames": [7], "context": 1},
        headers=alice,
    ).json()
    assert wait_for(client, alice, p, extracted["id"], {"succeeded", "failed"})["state"] == "succeeded"
    frames = pd.read_csv(
        io.BytesIO(
            client.get(f"/projects/{p}/jobs/{extracted['id']}/artifacts/frames.csv", headers=alice).content
        )
    )
    assert list(frames["image"]) == [f"labeled-data/run1_{v}/img00000007.png" for v in ("top", "bottom")]

    config = {**TINY, "losses": ["temporal", "pca_multiview"], "unlabeled_seq_len": 4}
    config.update(anneal_start_epoch=0, anneal_increase_per_epoch=1.0)
    ensemble = client.post(
        f"/projects/{p}/ensembles", json={"name": "cams", "train": config, "seeds": [0, 1]}, headers=alice
    ).json()
    for member in ensemble["members"]:
        job = wait_for(client, alice, p, member["train_job_id"], {"succeeded", "failed"})
        assert job["state"] == "succeeded", job
        assert np.isfinite(job["progress"]["losses"]["latest"]["train_pca_multiview_loss"])
    model = ensemble["members"][0]
    summary = client.get(f"/projects/{p}/models/{model['id']}", headers=alice).json()["summary"]
    assert set(summary["views"]) == {"top", "bottom"}
    assert summary["pixel_error"]["train"]["keypoints"] == sum(
        summary["views"][v]["pixel_error"]["train"]["keypoints"] for v in ("top", "bottom")
    )

    def predict(body: dict) -> dict:
        resp = client.post(
            f"/projects/{p}/predictions", json={"video_id": videos["bottom"], **body}, headers=alice
        )
        assert resp.status_code == 201, resp.text
        job = wait_for(client, alice, p, resp.json()["id"], {"succeeded", "failed"})
        assert job["state"] == "succeeded", job
        return job

    def artifact(job: dict, name: str) -> pd.DataFrame:
        content = client.get(f"/projects/{p}/jobs/{job['id']}/artifacts/{name}", headers=alice).content
        # a pose CSV (<video>.csv, <video>.eks.csv) has DeepLabCut's three header rows
        pose = name.count(".") == 1 or name.endswith(".eks.csv")
        return pd.read_csv(io.BytesIO(content), header=[0, 1, 2] if pose else 0, index_col=0)

    # one model, asked for the bottom view: the session's every view, and the multi-view PCA error
    single = predict({"model_id": model["id"]})
    for view in ("top", "bottom"):
        assert artifact(single, f"run1_{view}.csv").shape == (40, 7 * 3)
        errors = artifact(single, f"run1_{view}.pca_multiview_error.csv")
        assert errors.shape == (40, 7) and np.isfinite(errors.to_numpy()).all()
    # the ensemble: the members' predictions of both views smoothed together
    smoothed = predict({"ensemble_id": ensemble["id"]})
    assert {"run1_top.eks.csv", "run1_bottom.eks.csv", "run1_top.eks.pca_multiview_error.csv"} <= set(
        smoothed["artifacts"]
    )
    eks = artifact(smoothed, "run1_bottom.eks.csv")
    assert eks.shape[0] == 40 and np.isfinite(eks.xs("x", axis=1, level=2).to_numpy()).all()
