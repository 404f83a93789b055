"""Job records a live dashboard can trust, with real worker processes, Redis and both databases:
cancel of every kind, an ensemble member's failure, clean progress after a redelivery, takeover of
a dead worker's job with no slot alive, GET /workers. (Each kind's progress: ``test_job_progress``.)"""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime

from fastapi.testclient import TestClient

from tests.app.conftest import register_and_login
from tests.conftest import SQLITE_ONLY
from tests.testdata import TINY
from tests.worker.conftest import epoch, transcode_job, upload_video, wait_for, wait_until

LONG = {**TINY, "epochs": 6}
ENDED = {"succeeded", "failed", "cancelled"}


def _running(stage: str):
    """Whether a job runs a stage starting with ``stage`` and has done some of it."""
    return lambda job: (
        job["state"] == "running"
        and job["progress"] is not None
        and job["progress"]["stage"].startswith(stage)
        and job["progress"]["done"] > 0
    )


def _cancel(client: TestClient, headers: dict, project: int, job_id: int) -> dict:
    resp = client.post(f"/projects/{project}/jobs/{job_id}/cancel", headers=headers)
    assert resp.status_code == 200, resp.text
    job = wait_for(client, headers, project, job_id, ENDED, timeout=60)
    assert (job["state"], job["error"]) == ("cancelled", "cancelled by a user"), job
    return job


def _train(client: TestClient, headers: dict, project: int, name: str, config: dict) -> dict:
    resp = client.post(f"/projects/{project}/models", json={"name": name, "train": config}, headers=headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


@SQLITE_ONLY
def test_cancel_stops_every_kind_of_job(
    client: TestClient, alice, toy_project, toy_video_id, long_video, start_worker
) -> None:
    start_worker(2)
    p = toy_project
    long = upload_video(client, alice, p, long_video)
    transcode = wait_until(
        client, alice, p, transcode_job(client, alice, p, long["id"])["id"], _running("transcoding")
    )
    stopped = _cancel(client, alice, p, transcode["id"])
    assert stopped["progress"]["done"] < long["frames"]
    assert client.get(f"/projects/{p}/videos/{long['id']}", headers=alice).json()["transcoded"] is False

    resp = client.post(f"/projects/{p}/videos/{long['id']}/extract-frames", json={"n": 20}, headers=alice)
    extracting = wait_until(client, alice, p, resp.json()["id"], _running("reading the video"))
    stopped = _cancel(client, alice, p, extracting["id"])
    assert "frames.csv" not in stopped["artifacts"]

    model = _train(client, alice, p, "m", TINY)
    assert wait_for(client, alice, p, model["train_job_id"], ENDED)["state"] == "succeeded"
    resp = client.post(
        f"/projects/{p}/predictions", json={"video_id": long["id"], "model_id": model["id"]}, headers=alice
    )
    predicting = wait_until(client, alice, p, resp.json()["id"], _running("predicting"))
    stopped = _cancel(client, alice, p, predicting["id"])
    assert stopped["progress"]["done"] < long["frames"] and not stopped["artifacts"]

    training = _train(client, alice, p, "long", LONG)
    wait_until(client, alice, p, training["train_job_id"], _running("training"))
    assert _cancel(client, alice, p, training["train_job_id"])["progress"]["done"] < LONG["epochs"]

    # an ensemble's prediction: cancelling the smoothing job cancels its members' predictions too
    ensemble = client.post(
        f"/projects/{p}/ensembles", json={"name": "e", "train": TINY, "seeds": [0, 1]}, headers=alice
    ).json()
    assert wait_for(client, alice, p, ensemble["train_job_id"], ENDED)["state"] == "succeeded"
    resp = client.post(
        f"/projects/{p}/predictions",
        json={"video_id": long["id"], "ensemble_id": ensemble["id"]},
        headers=alice,
    )
    parent = resp.json()["id"]
    wait_until(client, alice, p, parent, lambda j: any(_running("predicting")(m) for m in j["members"]))
    smooth = _cancel(client, alice, p, parent)
    for member in smooth["members"]:
        assert wait_for(client, alice, p, member["id"], ENDED, timeout=60)["state"] == "cancelled"


@SQLITE_ONLY
def test_a_failed_member_fails_its_ensemble_prediction_and_the_others_finish(
    client: TestClient, alice, toy_project, toy_video_id, start_worker, settings
) -> None:
    start_worker(2)
    p = toy_project
    ensemble = client.post(
        f"/projects/{p}/ensembles", json={"name": "e", "train": TINY, "seeds": [0, 1]}, headers=alice
    ).json()
    assert wait_for(client, alice, p, ensemble["train_job_id"], ENDED)["state"] == "succeeded"
    broken = ensemble["members"][1]
    checkpoints = (
        settings.data_root / "storage" / "projects" / str(p) / "models" / str(broken["id"]) / "checkpoints"
    )
    for checkpoint in checkpoints.glob("*.ckpt"):
        checkpoint.unlink()
    resp = client.post(
        f"/projects/{p}/predictions",
        json={"video_id": toy_video_id, "ensemble_id": ensemble["id"]},
        headers=alice,
    )
    smooth = wait_for(client, alice, p, resp.json()["id"], ENDED)
    failed_member = next(m for m in smooth["members"] if m["params"]["model_id"] == broken["id"])
    assert smooth["state"] == "failed"
    assert smooth["error"].startswith(f"member job {failed_member['id']} (predict) failed: ")
    assert "checkpoint" in smooth["error"]
    other = next(m for m in smooth["members"] if m["id"] != failed_member["id"])
    assert wait_for(client, alice, p, other["id"], ENDED)["state"] == "succeeded"  # the others finish


def test_a_redelivered_job_starts_clean_and_keeps_the_earlier_attempt(
    client: TestClient, alice, toy_project, start_worker
) -> None:
    worker = start_worker(1)
    job_id = _train(client, alice, toy_project, "killed", LONG)["train_job_id"]
    first = wait_until(client, alice, toy_project, job_id, lambda j: epoch(j) >= 2)
    worker.kill_slots()
    second = wait_until(
        client,
        alice,
        toy_project,
        job_id,
        lambda j: j["state"] == "running" and j["attempt"] == 2,
        timeout=120,
    )
    assert "attempt 1 started" not in second["log_tail"]
    assert second["started_at"] > first["started_at"]
    (earlier,) = second["history"]
    assert (earlier["attempt"], earlier["outcome"], earlier["worker"]) == (1, "worker lost", first["worker"])
    assert "attempt 1 started" in earlier["log_tail"]
    assert datetime.fromisoformat(earlier["started_at"]) == datetime.fromisoformat(first["started_at"])
    done = wait_for(client, alice, toy_project, job_id, ENDED)
    assert done["state"] == "succeeded" and epoch(done) == done["progress"]["done"] == LONG["epochs"], done


def test_the_service_takes_over_a_dead_workers_job_with_no_slot_alive(
    client: TestClient, alice, toy_project, start_worker, settings
) -> None:
    worker = start_worker(1)
    job_id = _train(client, alice, toy_project, "orphan", LONG)["train_job_id"]
    wait_until(client, alice, toy_project, job_id, lambda j: epoch(j) >= 2)
    slots = worker.slot_pids()
    os.kill(worker.process.pid, signal.SIGKILL)  # the supervisor first, so nothing restarts the slot
    for pid in slots:
        os.kill(pid, signal.SIGKILL)
    requeued = wait_until(
        client,
        alice,
        toy_project,
        job_id,
        lambda j: j["state"] == "queued",
        timeout=settings.stale_after_s + 30,
    )
    assert requeued["attempt"] == 2 and requeued["history"][0]["outcome"] == "worker lost"
    assert client.get("/workers", headers=alice).json() == []
    start_worker(1)
    done = wait_for(client, alice, toy_project, job_id, ENDED)
    assert done["state"] == "succeeded", done


@SQLITE_ONLY
def test_workers_lists_live_slots_and_only_the_callers_jobs(
    client: TestClient, alice, toy_project, start_worker, settings
) -> None:
    worker = start_worker(2)
    deadline = time.monotonic() + 90
    while len(slots := client.get("/workers", headers=alice).json()) < 2:
        assert time.monotonic() < deadline, slots
        time.sleep(0.3)
    assert [s["device"] for s in slots] == ["cpu", "cpu"] and not any(s["busy"] for s in slots)
    assert all(s["heartbeat_age_s"] < settings.stale_after_s for s in slots)
    job_id = _train(client, alice, toy_project, "watched", LONG)["train_job_id"]
    running = wait_until(client, alice, toy_project, job_id, lambda j: j["state"] == "running")
    busy = next(s for s in client.get("/workers", headers=alice).json() if s["busy"])
    assert (busy["name"], busy["job_id"], busy["project_id"]) == (running["worker"], job_id, toy_project)
    bob = register_and_login(client, "bob")
    seen_by_bob = next(s for s in client.get("/workers", headers=bob).json() if s["busy"])
    assert (seen_by_bob["job_id"], seen_by_bob["project_id"]) == (None, None)
    assert client.get("/workers").status_code == 401
    worker.stop()
    deadline = time.monotonic() + settings.stale_after_s + 10
    while client.get("/workers", headers=alice).json():
        assert time.monotonic() < deadline
        time.sleep(0.5)
