"""Two labeling rounds through the API and a real worker: a model trains on the labels' version of
its start; labels change (a keypoint moved, a frame's labels removed); a second model, fine-tuned
from the first, trains on the new version. The versions are listed with their models, compared,
downloaded as they were and restored."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import yaml
from fastapi.testclient import TestClient

from tests.app.conftest import register_and_login
from tests.conftest import SQLITE_ONLY
from tests.testdata import TINY
from tests.worker.conftest import wait_for


def _train(client: TestClient, alice: dict, project: int, name: str, **request) -> dict:
    body = {"name": name, "train": TINY, **request}
    resp = client.post(f"/projects/{project}/models", json=body, headers=alice)
    assert resp.status_code == 201, resp.text
    job = wait_for(client, alice, project, resp.json()["train_job_id"], {"succeeded", "failed"})
    assert job["state"] == "succeeded", job
    return client.get(f"/projects/{project}/models/{resp.json()['id']}", headers=alice).json()


def _upload(client: TestClient, alice: dict, project: int, csv: bytes) -> None:
    resp = client.put(
        f"/projects/{project}/labels", params={"filename": "labels.csv"}, content=csv, headers=alice
    )
    assert resp.status_code == 200, resp.text


@SQLITE_ONLY
def test_a_second_round_fine_tunes_on_the_new_label_version(
    client: TestClient, alice, toy_project: int, start_worker
) -> None:
    p = toy_project
    versions = client.get(f"/projects/{p}/labels/versions", headers=alice).json()
    assert [(v["number"], v["source"], v["user"], v["labeled_frames"]) for v in versions] == [
        (1, "upload", "alice", 90)
    ]
    original = client.get(f"/projects/{p}/labels", headers=alice).content
    start_worker(1)
    first = _train(client, alice, p, "first")
    assert first["label_version"] == 1

    table = pd.read_csv(io.BytesIO(original), header=[0, 1, 2], index_col=0)
    moved_frame, cleared_frame = table.index[3], table.index[7]
    x = [c for c in table.columns if c[2] == "x"]
    table.loc[moved_frame, x[0]] += 5.0  # one keypoint moved by 5 px
    table.loc[cleared_frame, :] = np.nan  # one frame's labels removed
    changed = table.to_csv().encode()
    _upload(client, alice, p, changed)
    _upload(client, alice, p, changed)  # the same labels again: no new version
    # the next round: fine-tuned from the first model, its settings but for a shorter schedule
    second = _train(client, alice, p, "second", train={"epochs": 1}, start_from_model=first["id"])
    assert second["label_version"] == 2 and second["started_from"] == "first"
    assert second["train_config"] == {**first["train_config"], "epochs": 1}

    versions = client.get(f"/projects/{p}/labels/versions", headers=alice).json()
    assert [(v["number"], v["models"], v["labeled_frames"]) for v in versions] == [
        (2, ["second"], 89),
        (1, ["first"], 90),
    ]
    assert versions[0]["sha256"] != versions[1]["sha256"]
    changes = client.get(
        f"/projects/{p}/labels/versions/compare", params={"before": 1, "after": 2}, headers=alice
    ).json()
    (view,) = changes["views"]
    assert view["removed"] == [cleared_frame] and view["added"] == []
    assert list(view["moved"]) == [moved_frame] and abs(view["moved"][moved_frame] - 5.0) < 0.01
    back = client.get(
        f"/projects/{p}/labels/versions/compare", params={"before": 2, "after": 1}, headers=alice
    )
    assert back.json()["views"][0]["added"] == [cleared_frame]

    # each version as it was, whatever the label file holds now
    assert client.get(f"/projects/{p}/labels/versions/1", headers=alice).content == original
    assert client.get(f"/projects/{p}/labels/versions/2", headers=alice).content == changed
    # restored: the first labels back byte for byte, as a new version; restoring version 2 undoes it
    restored = client.post(f"/projects/{p}/labels/versions/1/restore", headers=alice)
    assert restored.status_code == 200, restored.text
    assert (restored.json()["number"], restored.json()["sha256"]) == (3, versions[1]["sha256"])
    assert restored.json()["source"] == "restore of version 1"
    assert client.get(f"/projects/{p}/labels", headers=alice).content == original
    undone = client.post(f"/projects/{p}/labels/versions/2/restore", headers=alice).json()
    assert (undone["number"], undone["sha256"]) == (4, versions[0]["sha256"])
    assert client.get(f"/projects/{p}/labels", headers=alice).content == changed
    # each model read its labels from its version's copy, which its config.yaml names
    for model, version in ((first, versions[1]), (second, versions[0])):
        config = client.get(
            f"/projects/{p}/jobs/{model['train_job_id']}/artifacts/config.yaml", headers=alice
        )
        settings = yaml.safe_load(config.content)
        assert (
            settings["project"]["labels_file"] == f"../label-versions/{version['sha256']}/CollectedData.csv"
        )
        started = settings["train"]["init_from"]
        assert started.endswith(f"/models/{first['id']}") if model is second else started == ""

    for method, path, params in (
        ("GET", "/labels/versions/5", {}),
        ("GET", "/labels/versions/compare", {"before": 1, "after": 9}),
        ("POST", "/labels/versions/5/restore", {}),
    ):
        missing = client.request(method, f"/projects/{p}{path}", params=params, headers=alice)
        assert missing.status_code == 404 and "labels/versions lists them" in missing.json()["detail"]
    refused = [
        (
            {"train": {**TINY, "backbone": "resnet34"}, "start_from_model": first["id"]},
            422,
            "'resnet18' model",
        ),
        ({"start_from_model": 999}, 404, "has no model 999"),
    ]
    for request, status, message in refused:
        resp = client.post(f"/projects/{p}/models", json={"name": "third", **request}, headers=alice)
        assert resp.status_code == status and message in resp.json()["detail"], resp.text
    resp = client.post(
        f"/projects/{p}/ensembles",
        json={"name": "ens", "seeds": [0, 1], "start_from_ensemble": 999},
        headers=alice,
    )
    assert resp.status_code == 404, resp.text
    mallory = register_and_login(client, "mallory")
    for path in ("/labels/versions", "/labels/versions/1"):
        assert client.get(f"/projects/{p}{path}", headers=mallory).status_code == 404
    assert client.post(f"/projects/{p}/labels/versions/1/restore", headers=mallory).status_code == 404
