"""Faults with real processes: a worker killed mid-training, Redis restarting, cancel and retry.

A job never stays RUNNING after its worker dies: it is delivered again and resumes from its last
checkpoint, or fails with the reason once its attempts are used up; retry then resumes it.
"""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from tests.conftest import SQLITE_ONLY
from tests.testdata import TINY
from tests.worker.conftest import epoch as training_epoch
from tests.worker.conftest import wait_for

pytestmark = SQLITE_ONLY
LONG = {**TINY, "epochs": 6}


def _train(client: TestClient, headers: dict, project: int, name: str, config: dict) -> int:
    resp = client.post(f"/projects/{project}/models", json={"name": name, "train": config}, headers=headers)
    assert resp.status_code == 201, resp.text
    return resp.json()["train_job_id"]


def _wait_epoch(
    client: TestClient, headers: dict, project: int, job_id: int, epoch: int, attempt: int | None = None
) -> dict:
    """Wait until the job (in that attempt, when given) is running at ``epoch`` (from 1) or later."""
    deadline = time.monotonic() + 240
    while True:
        job = client.get(f"/projects/{project}/jobs/{job_id}", headers=headers).json()
        right_attempt = attempt is None or job["attempt"] == attempt
        if job["state"] == "running" and right_attempt and training_epoch(job) >= epoch:
            return job
        assert job["state"] in ("queued", "running") and time.monotonic() < deadline, job
        time.sleep(0.2)


def test_killed_worker_resumes_then_fails_clearly_then_retry_resumes(
    client: TestClient, alice, toy_project, start_worker
) -> None:
    worker = start_worker(1)
    job_id = _train(client, alice, toy_project, "killed", LONG)

    _wait_epoch(client, alice, toy_project, job_id, 2, attempt=1)
    worker.kill_slots()  # attempt 1 dies; the restarted slot's reaper delivers attempt 2
    resumed = _wait_epoch(client, alice, toy_project, job_id, 3, attempt=2)
    assert "resuming model killed from its last checkpoint (attempt 2)" in resumed["log_tail"]

    worker.kill_slots()  # attempt 2 of 2 dies: the job fails with the reason
    failed = wait_for(client, alice, toy_project, job_id, {"failed", "succeeded"}, timeout=120)
    assert failed["state"] == "failed"
    assert "stopped responding 2 times" in failed["error"] and "retry" in failed["error"]

    retried = client.post(f"/projects/{toy_project}/jobs/{job_id}/retry", headers=alice)
    assert (
        retried.status_code == 200 and retried.json()["state"] == "queued" and retried.json()["attempt"] == 3
    )
    done = wait_for(client, alice, toy_project, job_id, {"failed", "succeeded"})
    assert done["state"] == "succeeded", done
    assert "resuming model killed from its last checkpoint (attempt 3)" in done["log_tail"]
    assert training_epoch(done) == done["progress"]["done"] == LONG["epochs"]
    assert [a["outcome"] for a in done["history"]] == ["worker lost", "failed"]
    model = client.get(f"/projects/{toy_project}/models", headers=alice).json()[0]
    assert model["state"] == "succeeded" and model["summary"]["pixel_error"]["train"]["mean"] > 0


def test_redis_restart_loses_no_job(
    client: TestClient, alice, toy_project, start_worker, redis_server
) -> None:
    start_worker(1)
    running = _train(client, alice, toy_project, "during-restart", LONG)
    _wait_epoch(client, alice, toy_project, running, 2)
    redis_server.stop()
    # the API stays up without Redis: the job is recorded and sent once Redis is back
    queued = _train(client, alice, toy_project, "while-down", TINY)
    assert client.get(f"/projects/{toy_project}/jobs/{queued}", headers=alice).json()["state"] == "queued"
    time.sleep(1)
    redis_server.start()
    for job_id in (running, queued):
        job = wait_for(client, alice, toy_project, job_id, {"failed", "succeeded"})
        assert job["state"] == "succeeded", job


def test_cancel_a_running_training_then_retry_resumes(
    client: TestClient, alice, toy_project, start_worker
) -> None:
    start_worker(1)
    job_id = _train(client, alice, toy_project, "cancelled", LONG)
    _wait_epoch(client, alice, toy_project, job_id, 2)
    assert client.post(f"/projects/{toy_project}/jobs/{job_id}/cancel", headers=alice).status_code == 200
    job = wait_for(client, alice, toy_project, job_id, {"cancelled", "failed", "succeeded"}, timeout=60)
    assert job["state"] == "cancelled" and job["error"] == "cancelled by a user"
    assert job["progress"]["done"] < LONG["epochs"]
    again = client.post(f"/projects/{toy_project}/jobs/{job_id}/cancel", headers=alice)
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]
    assert client.post(f"/projects/{toy_project}/jobs/{job_id}/retry", headers=alice).status_code == 200
    done = wait_for(client, alice, toy_project, job_id, {"failed", "succeeded", "cancelled"})
    assert done["state"] == "succeeded" and "resuming" in done["log_tail"], done


def test_stopping_the_worker_hands_the_running_job_back(
    client: TestClient, alice, toy_project, start_worker
) -> None:
    worker = start_worker(1)
    job_id = _train(client, alice, toy_project, "handed-back", LONG)
    _wait_epoch(client, alice, toy_project, job_id, 2)
    worker.stop()  # Ctrl-C: the slot stops at once and returns its job to the queue
    job = client.get(f"/projects/{toy_project}/jobs/{job_id}", headers=alice).json()
    assert job["state"] == "queued" and job["error"] is None, job
    start_worker(1)
    done = wait_for(client, alice, toy_project, job_id, {"failed", "succeeded"})
    assert done["state"] == "succeeded" and "resuming" in done["log_tail"], done
