"""Renaming and deleting models and ensembles: unknown IDs 404, taken names and models a job still
uses 409 (with what to do), an ensemble's member only with its ensemble; a deletion removes the
records and files and keeps the predictions made with them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.testdata import TINY
from worker.state.db.models import Job, Model


def _finish(client: TestClient, *job_ids: int) -> None:
    """Mark jobs as succeeded (there is no worker here); a training's model gets its summary."""
    with client.app.state.sessions() as session:
        for job_id in job_ids:
            job = session.get(Job, job_id)
            job.state = "succeeded"
            if job.kind == "train":
                session.get(Model, job.params["model_id"]).summary = {"pixel_error": {}}
        session.commit()


def test_rename_a_model_and_an_ensemble(client: TestClient, alice, project_id) -> None:
    p = f"/projects/{project_id}"
    model = client.post(f"{p}/models", json={"name": "m", "train": TINY}, headers=alice).json()
    client.post(f"{p}/models", json={"name": "taken", "train": TINY}, headers=alice)
    ensemble = client.post(f"{p}/ensembles", json={"name": "e", "seeds": [0, 1]}, headers=alice).json()

    renamed = client.patch(f"{p}/models/{model['id']}", json={"name": "better"}, headers=alice)
    assert renamed.status_code == 200 and renamed.json()["name"] == "better"
    assert client.get(f"{p}/models/{model['id']}", headers=alice).json()["name"] == "better"
    taken = client.patch(f"{p}/models/{model['id']}", json={"name": "taken"}, headers=alice)
    assert taken.status_code == 409 and "already has a model named 'taken'" in taken.json()["detail"]
    bad = client.patch(f"{p}/models/{model['id']}", json={"name": "no spaces"}, headers=alice)
    assert bad.status_code == 422 and "name" in bad.json()["detail"]
    assert client.patch(f"{p}/models/999", json={"name": "x"}, headers=alice).status_code == 404

    resp = client.patch(f"{p}/ensembles/{ensemble['id']}", json={"name": "e2"}, headers=alice)
    assert resp.status_code == 200 and resp.json()["name"] == "e2"
    assert [m["name"] for m in resp.json()["members"]] == ["e-seed0", "e-seed1"]
    assert client.patch(f"{p}/ensembles/999", json={"name": "x"}, headers=alice).status_code == 404


def test_delete_refuses_while_a_job_uses_the_model(client: TestClient, alice, login, project_id) -> None:
    p = f"/projects/{project_id}"
    model = client.post(f"{p}/models", json={"name": "m", "train": TINY}, headers=alice).json()
    training = client.delete(f"{p}/models/{model['id']}", headers=alice)
    assert training.status_code == 409
    assert f"job {model['train_job_id']} (train, queued) uses it" in training.json()["detail"]
    assert "cancel" in training.json()["detail"]
    assert client.delete(f"{p}/models/999", headers=alice).status_code == 404
    assert client.delete(f"{p}/models/{model['id']}", headers=login("mallory")).status_code == 404

    _finish(client, model["train_job_id"])
    storage = client.app.state.storage
    key = f"projects/{project_id}/models/{model['id']}/summary.json"
    storage.put_stream([b"{}"], key)
    with client.app.state.sessions() as session:  # a prediction that is still running
        job = Job(project_id=project_id, kind="predict", params={"model_id": model["id"]}, state="running")
        session.add(job)
        session.commit()
        predicting = job.id
    busy = client.delete(f"{p}/models/{model['id']}", headers=alice)
    assert busy.status_code == 409 and f"job {predicting} (predict, running)" in busy.json()["detail"]

    _finish(client, predicting)
    assert client.delete(f"{p}/models/{model['id']}", headers=alice).status_code == 204
    assert client.get(f"{p}/models/{model['id']}", headers=alice).status_code == 404
    assert not storage.exists(key)
    jobs = {j["id"] for j in client.get(f"{p}/jobs", headers=alice).json()}
    assert predicting in jobs and model["train_job_id"] not in jobs  # the prediction stays


def test_an_ensemble_is_deleted_with_its_members(client: TestClient, alice, project_id) -> None:
    p = f"/projects/{project_id}"
    ensemble = client.post(f"{p}/ensembles", json={"name": "e", "seeds": [0, 1]}, headers=alice).json()
    member = ensemble["members"][0]
    alone = client.delete(f"{p}/models/{member['id']}", headers=alice)
    assert alone.status_code == 409
    assert "member of ensemble 'e'; delete the ensemble" in alone.json()["detail"]
    assert client.delete(f"{p}/ensembles/{ensemble['id']}", headers=alice).status_code == 409  # training

    _finish(client, *(m["train_job_id"] for m in ensemble["members"]), ensemble["train_job_id"])
    assert client.delete(f"{p}/ensembles/{ensemble['id']}", headers=alice).status_code == 204
    assert client.get(f"{p}/ensembles", headers=alice).json() == []
    assert client.get(f"{p}/models", headers=alice).json() == []
    assert client.get(f"{p}/jobs", headers=alice).json() == []
    assert client.delete(f"{p}/ensembles/{ensemble['id']}", headers=alice).status_code == 404
