"""Every kind of job reports the one progress contract (``worker.state.progress.JobProgress``), read back
from the service while a real worker process (two slots, Redis) runs it on the toy data: each poll's
progress validates, its stage and unit are the kind's, the end reads done == total, and a training
has an ETA while it runs. A parent reads as its members' aggregate, and running while one runs.

The jobs run once for the module (on SQLite; the records' storage is tested on both databases by
``test_job_records``): pre-annotation and active selection are recorded as their Label Studio
routes record them (``worker.state.submit``), without Label Studio.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.api.factory import create_app
from app.settings import Settings
from core.labels.formats import read_labels
from tests.app.conftest import register_and_login
from tests.conftest import module_folder
from tests.testdata import TINY, TOY
from tests.worker.conftest import Worker, create_toy_project, transcode_job
from worker.state import submit
from worker.state.db.models import Model, User
from worker.state.progress import JobProgress

CLIP_FRAMES = 40  # the toy clip
KEYPOINTS = 17
ENDED = ("succeeded", "failed", "cancelled")


@dataclass
class Watched:
    """A job as the service returned it at each poll until it ended (its members included)."""

    polls: list[dict]

    @property
    def final(self) -> dict:
        return self.polls[-1]

    def reports(self, of: str | None = None) -> list[tuple[str, JobProgress]]:
        """``(state, progress)`` of every poll that had a report: the job's, or member ``of``'s
        (its index as a string), each validated against the contract."""
        jobs = [p if of is None else p["members"][int(of)] for p in self.polls]
        return [(j["state"], JobProgress.model_validate(j["progress"])) for j in jobs if j["progress"]]


def watch(client: TestClient, headers: dict, project: int, job_id: int, timeout: float = 900) -> Watched:
    deadline = time.monotonic() + timeout
    polls = []
    while not polls or polls[-1]["state"] not in ENDED:
        assert time.monotonic() < deadline, polls[-1]
        polls.append(client.get(f"/projects/{project}/jobs/{job_id}", headers=headers).json())
        time.sleep(0.2)
    assert polls[-1]["state"] == "succeeded", polls[-1]
    return Watched(polls)


@pytest.fixture(scope="module")
def jobs(request, redis_server, toy_labels_zip: Path, toy_clip: Path) -> Iterator[dict[str, Watched]]:
    """Each kind of job, run by a real worker on the toy project and the toy clip."""
    with module_folder(request, "progress") as root:
        redis.Redis.from_url(redis_server.url).flushall()
        settings = Settings(
            data_root=root / "data",
            database_url=f"sqlite:///{root / 'posecloud.db'}",
            redis_url=redis_server.url,
            max_upload_bytes=50_000_000,
            argon2_time_cost=1,
            argon2_memory_kib=1024,
            heartbeat_s=0.5,
        )
        with TestClient(create_app(settings)) as client:
            worker = Worker(settings, 2, root / "worker.log")
            try:
                yield _run_every_kind(client, toy_labels_zip, toy_clip)
            finally:
                worker.stop()


def _run_every_kind(client: TestClient, labels_zip: Path, clip: Path) -> dict[str, Watched]:
    alice = register_and_login(client, "alice")
    p = create_toy_project(client, alice, labels_zip)
    video = client.post(
        f"/projects/{p}/videos", params={"filename": "clip.mp4"}, content=clip.read_bytes(), headers=alice
    ).json()
    run = {"transcode": watch(client, alice, p, transcode_job(client, alice, p, video["id"])["id"])}
    resp = client.post(f"/projects/{p}/videos/{video['id']}/extract-frames", json={"n": 3}, headers=alice)
    run["extract_frames"] = watch(client, alice, p, resp.json()["id"])
    ensemble = client.post(
        f"/projects/{p}/ensembles", json={"name": "ens", "train": TINY, "seeds": [0, 1]}, headers=alice
    ).json()
    run["ensemble"] = watch(client, alice, p, ensemble["train_job_id"])
    model_id = ensemble["members"][0]["id"]
    for kind, which in (("predict", {"model_id": model_id}), ("smooth", {"ensemble_id": ensemble["id"]})):
        resp = client.post(
            f"/projects/{p}/predictions", json={"video_id": video["id"], **which}, headers=alice
        )
        run[kind] = watch(client, alice, p, resp.json()["id"])
    with client.app.state.sessions() as session:
        user_id = session.scalar(select(User.id).where(User.username == "alice"))
        members = [session.get(Model, m["id"]) for m in ensemble["members"]]
        common = {"project_id": p, "user_id": user_id, "models": members, "name": "ens", "max_attempts": 1}
        queue = client.app.state.queue
        selection = submit.start_selection(session, queue, video_id=video["id"], n=3, **common).id
        images = read_labels(TOY / "CollectedData.csv").index[:4]
        preannotation = submit.start_preannotation(session, queue, images=images, **common).id
    run["select_frames"] = watch(client, alice, p, selection)
    run["preannotate"] = watch(client, alice, p, preannotation)
    return run


def _ends_complete(progress: dict, stage: str, unit: str, total: float) -> None:
    assert JobProgress.model_validate(progress) == JobProgress(
        stage=stage, done=total, total=total, unit=unit, eta_s=0, losses=progress.get("losses")
    )


def test_a_transcoding_counts_the_frames_written(jobs: dict[str, Watched]) -> None:
    watched = jobs["transcode"]
    assert {(p.stage, p.unit, p.total) for _, p in watched.reports()} == {("transcoding", "frames", 40)}
    _ends_complete(watched.final["progress"], "transcoding", "frames", CLIP_FRAMES)


def test_extracting_frames_reads_the_video_then_saves_the_picks(jobs: dict[str, Watched]) -> None:
    watched = jobs["extract_frames"]
    stages = {(p.stage, p.unit) for _, p in watched.reports()}
    assert stages <= {("reading the video", "frames"), ("saving frames", "frames")}
    _ends_complete(watched.final["progress"], "saving frames", "frames", 3)


def test_a_training_counts_epochs_with_its_losses_and_an_eta_while_it_runs(jobs: dict[str, Watched]) -> None:
    for member in ("0", "1"):
        reports = jobs["ensemble"].reports(of=member)
        assert {(p.stage, p.unit, p.total) for _, p in reports} == {("training", "epochs", TINY["epochs"])}
        running = [p for state, p in reports if state == "running"]
        assert [p.done for p in running] == sorted(p.done for p in running)
        assert any(p.eta_s is not None and p.eta_s > 0 for p in running), running
        final = reports[-1][1]
        assert final.done == final.total == TINY["epochs"] and final.eta_s == 0
        assert final.losses.epoch == TINY["epochs"] and "train_loss" in final.losses.latest
        assert [e.epoch for e in final.losses.history] == list(range(1, TINY["epochs"] + 1))


def test_an_ensemble_runs_while_its_members_do_and_reads_as_their_aggregate(jobs: dict[str, Watched]) -> None:
    watched = jobs["ensemble"]
    while_members_run = [
        (poll["state"], JobProgress.model_validate(poll["progress"]))
        for poll in watched.polls
        if any(m["state"] == "running" for m in poll["members"])
    ]
    assert while_members_run and all(state == "running" for state, _ in while_members_run)
    assert {(p.unit, p.total) for _, p in while_members_run} == {("models", 2)}
    assert {stage for _, p in while_members_run for stage in p.stage.split(", ")} <= {"starting", "training"}
    assert any(0 < p.done < 2 and p.eta_s is not None for _, p in while_members_run), while_members_run
    final = JobProgress.model_validate(watched.final["progress"])
    assert (final.stage, final.done, final.total, final.unit) == ("members finished", 2, 2, "models")


def test_a_prediction_counts_the_frames_decoded(jobs: dict[str, Watched]) -> None:
    watched = jobs["predict"]
    assert {(p.stage, p.unit) for _, p in watched.reports()} == {("predicting clip.mp4", "frames")}
    _ends_complete(watched.final["progress"], "predicting clip.mp4", "frames", CLIP_FRAMES)


def test_an_ensemble_prediction_aggregates_its_members_then_counts_the_keypoints_smoothed(
    jobs: dict[str, Watched],
) -> None:
    watched = jobs["smooth"]
    for state, progress in watched.reports():
        if progress.unit == "models":  # its members' predictions
            assert progress.total == 2 and state in ("waiting", "running", "queued")
        else:
            assert state in ("running", "succeeded") and (progress.stage, progress.unit) == (
                "smoothing",
                "keypoints",
            )
    for member in ("0", "1"):
        _ends_complete(watched.final["members"][int(member)]["progress"], "predicting clip.mp4", "frames", 40)
    _ends_complete(watched.final["progress"], "smoothing", "keypoints", KEYPOINTS)


def test_an_active_selection_smooths_its_members_then_saves_the_picks(jobs: dict[str, Watched]) -> None:
    watched = jobs["select_frames"]
    own = {(p.stage, p.unit) for _, p in watched.reports() if p.unit != "models"}
    assert own <= {("smoothing", "keypoints"), ("saving frames", "frames")}
    _ends_complete(watched.final["progress"], "saving frames", "frames", 3)


def test_a_pre_annotation_counts_the_models_that_predicted_the_images(jobs: dict[str, Watched]) -> None:
    watched = jobs["preannotate"]
    assert {(p.stage, p.unit, p.total) for _, p in watched.reports()} == {
        ("predicting the images", "models", 2)
    }
    _ends_complete(watched.final["progress"], "predicting the images", "models", 2)
