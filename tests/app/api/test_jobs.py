"""Jobs, models, ensembles and predictions through the API, without a worker: what gets recorded and
queued, access control, unknown IDs, cancel/retry rules, and the API staying up without Redis."""

from __future__ import annotations

import base64
import json

import hypothesis
import pytest
import redis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from app.api.factory import create_app
from app.settings import Settings
from core.config import MAX_BATCH_SIZE, MAX_EPOCHS, MAX_IMAGE_SIZE, MAX_SEED
from tests.app.conftest import register_and_login
from tests.services import free_port
from tests.testdata import TINY


def _queued_messages(redis_url: str) -> list[list]:
    """The (job id, attempt) of every message waiting in the Celery queue."""
    client = redis.Redis.from_url(redis_url)
    messages = [json.loads(m) for m in client.lrange("celery", 0, -1)]
    return [json.loads(base64.b64decode(m["body"]))[0] for m in messages]


def test_ensemble_records_one_queued_job_per_member_under_a_group_job(
    client: TestClient, alice, project_id, redis_url: str
) -> None:
    resp = client.post(
        f"/projects/{project_id}/ensembles",
        json={"name": "ens", "train": TINY, "seeds": [3, 4]},
        headers=alice,
    )
    assert resp.status_code == 201, resp.text
    members = resp.json()["members"]
    assert [m["train_config"]["seed"] for m in members] == [3, 4]
    assert [m["state"] for m in members] == ["queued", "queued"]
    assert sorted(_queued_messages(redis_url)) == sorted([[m["train_job_id"], 1] for m in members])
    jobs = {j["id"]: j for j in client.get(f"/projects/{project_id}/jobs", headers=alice).json()}
    group = jobs[resp.json()["train_job_id"]]
    assert (group["kind"], group["state"], resp.json()["state"]) == ("ensemble", "waiting", "waiting")
    assert [m["id"] for m in group["members"]] == [m["train_job_id"] for m in members]
    assert [m["state"] for m in group["members"]] == ["queued", "queued"]
    assert [jobs[m["train_job_id"]]["parent_id"] for m in members] == [group["id"]] * 2
    assert not group["cancel_requested"] and group["heartbeat_age_s"] is None
    waiting = {"stage": "waiting for members", "done": 0, "total": 2, "unit": "models", "eta_s": None}
    assert group["progress"] == {**waiting, "losses": None}  # its members' aggregate
    assert [m["progress"] for m in group["members"]] == [None, None]  # no report before they run
    waiting_only = client.get(f"/projects/{project_id}/jobs", params={"state": "waiting"}, headers=alice)
    assert [(j["id"], len(j["members"])) for j in waiting_only.json()] == [(group["id"], 2)]


def test_job_progress_is_typed_in_the_openapi_schema(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for job in ("JobSummary", "JobMember"):
        progress = schemas[job]["properties"]["progress"]
        assert {"$ref": "#/components/schemas/JobProgress"} in progress["anyOf"], progress
    contract = schemas["JobProgress"]
    assert set(contract["required"]) == {"stage", "done", "total", "unit"}
    assert set(contract["properties"]["unit"]["enum"]) >= {"epochs", "frames", "keypoints", "models"}


def test_bad_requests_get_a_reason(client: TestClient, alice, project_id) -> None:
    bad_setting = client.post(
        f"/projects/{project_id}/models", json={"name": "m", "train": {"backbone": "vgg"}}, headers=alice
    )
    assert bad_setting.status_code == 422 and "backbone" in bad_setting.json()["detail"]
    client.post(f"/projects/{project_id}/models", json={"name": "m", "train": TINY}, headers=alice)
    again = client.post(f"/projects/{project_id}/models", json={"name": "m", "train": TINY}, headers=alice)
    assert again.status_code == 409 and "already has" in again.json()["detail"]
    seeds = client.post(
        f"/projects/{project_id}/ensembles", json={"name": "e", "seeds": [1, 1]}, headers=alice
    )
    assert seeds.status_code == 422 and "distinct" in seeds.json()["detail"]
    both = client.post(
        f"/projects/{project_id}/predictions",
        json={"video_id": 1, "model_id": 1, "ensemble_id": 1},
        headers=alice,
    )
    assert both.status_code == 422 and "exactly one" in both.json()["detail"]


def test_unknown_ids_and_other_users_get_404(client: TestClient, alice, login, project_id) -> None:
    model = client.post(
        f"/projects/{project_id}/models", json={"name": "m", "train": TINY}, headers=alice
    ).json()
    job_id = model["train_job_id"]
    p = project_id
    for path in (
        f"/projects/{p}/jobs/999",
        f"/projects/{p}/models/999",
        f"/projects/{p}/ensembles/999",
        f"/projects/{p}/jobs/{job_id}/artifacts/nothing.csv",
    ):
        resp = client.get(path, headers=alice)
        assert resp.status_code == 404, path
        assert "not found" in resp.json()["detail"] or "no artifact" in resp.json()["detail"], path
    resp = client.post(
        f"/projects/{p}/predictions", json={"video_id": 999, "model_id": model["id"]}, headers=alice
    )
    assert resp.status_code == 404 and "video 999" in resp.json()["detail"]
    bob = login("bob")
    for method, path in [
        ("get", f"/projects/{p}/jobs"),
        ("get", f"/projects/{p}/jobs/{job_id}"),
        ("post", f"/projects/{p}/jobs/{job_id}/cancel"),
        ("post", f"/projects/{p}/jobs/{job_id}/retry"),
        ("get", f"/projects/{p}/models"),
        ("get", f"/projects/{p}/models/{model['id']}"),
        ("get", f"/projects/{p}/ensembles"),
    ]:
        assert getattr(client, method)(path, headers=bob).status_code == 404, path
    assert (
        client.post(f"/projects/{p}/models", json={"name": "x", "train": TINY}, headers=bob).status_code
        == 404
    )
    # bob's own project cannot reach alice's job by ID either
    bobs = client.post("/projects", json={"name": "b", "keypoints": ["a"]}, headers=bob).json()["id"]
    assert client.get(f"/projects/{bobs}/jobs/{job_id}", headers=bob).status_code == 404


def test_cancel_and_retry_a_queued_job(client: TestClient, alice, project_id, redis_url: str) -> None:
    job_id = client.post(
        f"/projects/{project_id}/models", json={"name": "m", "train": TINY}, headers=alice
    ).json()["train_job_id"]
    base = f"/projects/{project_id}/jobs/{job_id}"
    retry_queued = client.post(f"{base}/retry", headers=alice)
    assert retry_queued.status_code == 409 and "only failed or cancelled" in retry_queued.json()["detail"]
    cancelled = client.post(f"{base}/cancel", headers=alice).json()
    assert cancelled["state"] == "cancelled" and cancelled["error"] == "cancelled by a user"
    assert client.get(f"/projects/{project_id}/models", headers=alice).json()[0]["state"] == "cancelled"
    retried = client.post(f"{base}/retry", headers=alice).json()
    assert retried["state"] == "queued" and retried["attempt"] == 2 and retried["error"] is None
    # the first delivery is now stale; the worker skips it (see worker.state.records.claim)
    assert sorted(_queued_messages(redis_url)) == [[job_id, 1], [job_id, 2]]


def test_predicting_with_an_untrained_model_is_409(client: TestClient, alice, project_id) -> None:
    from tests.app.conftest import TEST_VIDEO

    video = client.post(
        f"/projects/{project_id}/videos",
        params={"filename": "v.mp4"},
        content=TEST_VIDEO.read_bytes(),
        headers=alice,
    )
    model = client.post(
        f"/projects/{project_id}/models", json={"name": "m", "train": TINY}, headers=alice
    ).json()
    resp = client.post(
        f"/projects/{project_id}/predictions",
        json={"video_id": video.json()["id"], "model_id": model["id"]},
        headers=alice,
    )
    assert resp.status_code == 409 and "not finished training" in resp.json()["detail"]


def test_without_redis_the_api_stays_up_and_jobs_wait(settings: Settings) -> None:
    dead = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with TestClient(create_app(dead)) as client:
        alice = register_and_login(client, "alice")
        project = client.post("/projects", json={"name": "p", "keypoints": ["a"]}, headers=alice).json()["id"]
        resp = client.post(f"/projects/{project}/models", json={"name": "m", "train": TINY}, headers=alice)
        assert resp.status_code == 201 and resp.json()["state"] == "queued"
        job = client.get(f"/projects/{project}/jobs/{resp.json()['train_job_id']}", headers=alice).json()
        assert job["state"] == "queued"  # the reaper sends it once Redis is reachable


@pytest.fixture
def project_id(client: TestClient, alice: dict[str, str]) -> int:
    body = {"name": "mouse", "keypoints": ["paw", "nose"], "skeleton": [["paw", "nose"]]}
    return client.post("/projects", json=body, headers=alice).json()["id"]


def test_frame_extraction_requests_are_checked(client: TestClient, alice, project_id) -> None:
    from tests.app.conftest import TEST_VIDEO

    video = client.post(
        f"/projects/{project_id}/videos",
        params={"filename": "v.mp4"},
        content=TEST_VIDEO.read_bytes(),
        headers=alice,
    ).json()
    url = f"/projects/{project_id}/videos/{video['id']}/extract-frames"
    both = client.post(url, json={"n": 3, "frames": [1]}, headers=alice)
    assert both.status_code == 422 and "exactly one" in both.json()["detail"]
    outside = client.post(url, json={"frames": [5, 994]}, headers=alice)
    assert outside.status_code == 422 and "[994]" in outside.json()["detail"]
    too_many = client.post(url, json={"n": 995}, headers=alice)
    assert too_many.status_code == 422 and "994 frames" in too_many.json()["detail"]
    job = client.post(url, json={"n": 3}, headers=alice)
    assert (
        job.status_code == 201 and job.json()["kind"] == "extract_frames" and job.json()["state"] == "queued"
    )
    assert (
        client.post(
            f"/projects/{project_id}/videos/999/extract-frames", json={"n": 3}, headers=alice
        ).status_code
        == 404
    )


# Each training setting with an upper bound, the bound, and how far past it a request may ask.
TRAIN_BOUNDS = {
    "image_height": MAX_IMAGE_SIZE,
    "image_width": MAX_IMAGE_SIZE,
    "epochs": MAX_EPOCHS,
    "batch_size": MAX_BATCH_SIZE,
    "densenet_stacks": 8,
    "densenet_growth_rate": 256,
    "unlabeled_seq_len": 256,
    "num_workers": 64,
    "val_every_n_epochs": MAX_EPOCHS,
    "seed": MAX_SEED,
}


def _nothing_recorded(client: TestClient, headers: dict, project_id: int, redis_url: str) -> bool:
    p = f"/projects/{project_id}"
    lists = [client.get(f"{p}/{what}", headers=headers).json() for what in ("jobs", "models", "ensembles")]
    return lists == [[], [], []] and _queued_messages(redis_url) == []


@hypothesis.settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(setting=st.sampled_from(sorted(TRAIN_BOUNDS)), excess=st.integers(min_value=1, max_value=10**15))
def test_training_settings_past_their_bound_are_refused_and_nothing_is_queued(
    client: TestClient, alice, project_id, redis_url: str, setting: str, excess: int
) -> None:
    limit = TRAIN_BOUNDS[setting]
    value = (limit + excess + 63) // 64 * 64 if setting.startswith("image_") else limit + excess
    requests = [("models", {"name": "m", "train": {**TINY, setting: value}})]
    if setting != "seed":  # an ensemble's seeds replace the seed of its settings
        requests.append(("ensembles", {"name": "e", "train": {**TINY, setting: value}, "seeds": [1, 2]}))
    for url, body in requests:
        resp = client.post(f"/projects/{project_id}/{url}", json=body, headers=alice)
        assert resp.status_code == 422, resp.text
        assert f"{setting}: Input should be less than or equal to {limit}" in resp.json()["detail"]
    assert _nothing_recorded(client, alice, project_id, redis_url)


@pytest.mark.parametrize(
    ("train", "seeds", "problem"),
    [
        ({"image_height": 100000}, [1, 2], "image_height: Input should be less than or equal to 2048"),
        ({"epochs": 10**12}, [1, 2], "epochs: Input should be less than or equal to 10000"),
        ({"lr_milestones": [10**9]}, [1, 2], "lr_milestones.0: Input should be less than or equal to 10000"),
        (
            {"model_type": "stacked_densenet", "image_width": 96},
            [1, 2],
            "image_width 96 is not a multiple of 64",
        ),
        ({}, [1, 2**40], "body.seeds.1: Input should be less than or equal to 4294967295"),
        ({}, [-1, 2], "body.seeds.0: Input should be greater than or equal to 0"),
    ],
)
def test_ensemble_settings_out_of_bounds_queue_nothing(
    client: TestClient, alice, project_id, redis_url: str, train: dict, seeds: list[int], problem: str
) -> None:
    body = {"name": "e", "train": {**TINY, **train}, "seeds": seeds}
    resp = client.post(f"/projects/{project_id}/ensembles", json=body, headers=alice)
    assert resp.status_code == 422 and problem in resp.json()["detail"], resp.text
    assert _nothing_recorded(client, alice, project_id, redis_url)


def test_the_training_form_schema_shows_the_bounds(client: TestClient, alice, project_id) -> None:
    schema = client.get(f"/projects/{project_id}/train-config-schema", headers=alice).json()["properties"]
    assert {name: schema[name].get("maximum") for name in ("image_height", "epochs", "batch_size")} == {
        "image_height": MAX_IMAGE_SIZE,
        "epochs": MAX_EPOCHS,
        "batch_size": MAX_BATCH_SIZE,
    }


def test_a_taken_ensemble_name_is_409_and_records_nothing_more(
    client: TestClient, alice, project_id, redis_url: str
) -> None:
    body = {"name": "e", "train": TINY, "seeds": [1, 2]}
    assert client.post(f"/projects/{project_id}/ensembles", json=body, headers=alice).status_code == 201
    jobs = client.get(f"/projects/{project_id}/jobs", headers=alice).json()
    again = client.post(f"/projects/{project_id}/ensembles", json=body, headers=alice)
    assert again.status_code == 409 and "already has a model or ensemble" in again.json()["detail"]
    assert client.get(f"/projects/{project_id}/jobs", headers=alice).json() == jobs


@pytest.mark.parametrize(
    ("train", "problem"),
    [
        ({"pretrained": "/etc/hostname"}, "train.pretrained: choose one of ['imagenet', 'none']"),
        ({"pretrained": "../../2/models/m/checkpoints/best.ckpt"}, "train.pretrained: choose one of"),
        ({"unlabeled_videos": ["../../2/videos"]}, "train.unlabeled_videos: leave it out"),
        ({"init_from": "../../2/models/7"}, "train.init_from: leave it out; to fine-tune, name the model"),
    ],
)
def test_training_settings_that_name_server_files_are_refused(
    client: TestClient, alice, project_id, redis_url: str, train: dict, problem: str
) -> None:
    for url, extra in (("models", {}), ("ensembles", {"seeds": [1, 2]})):
        body = {"name": "m", "train": {**TINY, **train}, **extra}
        resp = client.post(f"/projects/{project_id}/{url}", json=body, headers=alice)
        assert resp.status_code == 422 and problem in resp.json()["detail"], resp.text
    assert _nothing_recorded(client, alice, project_id, redis_url)
