"""The comparison datasets as FiftyOne stores them in MongoDB, read back as the project's own MongoDB
user and checked against the CSVs they were made from: samples, fields, tags, coordinates (exact,
divided by the frame's real size), confidence, pixel error and the video metrics; saved views; a
rebuild after a new model adds its field; and the API's refusals."""

from __future__ import annotations

import io
import time

import numpy as np
import pandas as pd
import pymongo
import pytest

from app.fiftyone.mongo import MongoServer
from core.labels.formats import read_labels
from tests.app.fiftyone.conftest import Toy, build_comparison, train, wait_job
from tests.testdata import TOY
from worker.fiftyone.database import project_database, project_uri
from worker.state.progress import JobProgress

SIZE = np.array([396.0, 406.0])  # the toy frames' and clip's width and height, pixels


@pytest.fixture(scope="module")
def db(toy: Toy, mongo: MongoServer) -> pymongo.database.Database:
    client = pymongo.MongoClient(project_uri(mongo.folder, mongo.host, mongo.port, toy.project))
    yield client[project_database(toy.project)]
    client.close()


def dataset(db, name: str) -> tuple[dict, list[dict]]:
    doc = db.datasets.find_one({"name": name})
    assert doc is not None, f"no dataset {name}: {[d['name'] for d in db.datasets.find()]}"
    return doc, list(db[doc["sample_collection_name"]].find())


def points(label: dict) -> np.ndarray:
    (keypoint,) = label["keypoints"]
    return np.array(keypoint["points"], dtype=np.float64)


def csv_artifact(toy: Toy, job: dict, name: str) -> bytes:
    with toy.client() as c:
        resp = c.get(f"/projects/{toy.project}/jobs/{job['id']}/artifacts/{name}")
    assert resp.status_code == 200, resp.text
    return resp.content


def model_predictions(toy: Toy, model: dict):
    root = toy.api.data_root / "storage" / "projects" / str(toy.project) / "models" / str(model["id"])
    return read_labels(root / "predictions.csv")


def test_labeled_frames_hold_ground_truth_and_every_model(toy: Toy, db) -> None:
    doc, samples = dataset(db, "labeled-frames")
    labels = read_labels(TOY / "CollectedData.csv")
    assert len(samples) == len(labels.index) == 90
    fields = {f["name"] for f in doc["sample_fields"]}
    assert {"ground_truth", "r18", "ens_seed0", "ens_seed1", "r18_error", "image", "view"} <= fields
    assert doc["default_skeleton"]["labels"] == labels.keypoints
    by_image = {s["image"]: s for s in samples}
    assert set(by_image) == set(labels.index)
    for image in labels.index[:5]:  # exact, normalised by the frame's real size
        row = labels.index.index(image)
        truth = points(by_image[image]["ground_truth"]) * SIZE
        np.testing.assert_allclose(truth, labels.xy[row], rtol=0, atol=1e-9)
        assert by_image[image]["filepath"].endswith(f"/projects/{toy.project}/data/{image}")
    for name in ("r18", "ens-seed0"):
        predicted = model_predictions(toy, toy.models[name])
        field = name.replace("-", "_")
        tags = {s["image"]: [t for t in s["tags"] if t.startswith(f"{name}:")] for s in samples}
        assert tags == {
            image: [f"{name}:{split}"]
            for image, split in zip(predicted.index, predicted.extra["set"], strict=True)
        }
        for i, image in enumerate(predicted.index[:10]):
            (kp,) = by_image[image][field]["keypoints"]
            xy = np.array(kp["points"], dtype=np.float64) * SIZE
            np.testing.assert_allclose(xy, predicted.xy[i], rtol=0, atol=1e-9)
            np.testing.assert_allclose(kp["confidence"], predicted.field("likelihood")[i], rtol=0, atol=1e-12)
            truth = labels.xy[labels.index.index(image)]
            error = np.linalg.norm(predicted.xy[i] - truth, axis=-1)
            got = np.array([np.nan if e is None else e for e in kp["pixel_error"]], dtype=np.float64)
            np.testing.assert_allclose(got, error, rtol=1e-12, equal_nan=True)
            assert by_image[image][f"{field}_error"] == pytest.approx(np.nanmean(error))


def test_labeled_frames_have_saved_views_per_split_worst_frames_and_low_confidence(toy: Toy, db) -> None:
    doc, _ = dataset(db, "labeled-frames")
    views = {v["name"] for v in db.views.find({"_dataset_id": doc["_id"]})}
    for name in ("r18", "ens-seed0", "ens-seed1"):
        assert {f"{name} {s}" for s in ("train", "validation", "test")} <= views
        assert {f"{name} worst frames", f"{name} low confidence"} <= views
    with toy.client() as c:
        links = c.get(f"/projects/{toy.project}/fiftyone").json()
    assert links["url"] == f"/fiftyone/{toy.project}/datasets/labeled-frames?proxy=/fiftyone/{toy.project}"
    frames = next(d for d in links["datasets"] if d["name"] == "labeled-frames")
    urls = {v["name"]: v["url"] for v in frames["views"]}
    assert urls["r18 train"] == links["url"] + "&view=r18-train"
    assert {d["name"] for d in links["datasets"]} == {"labeled-frames", "videos"}


def test_predicted_video_has_every_model_member_and_the_eks_per_frame(toy: Toy, db) -> None:
    doc, (sample,) = dataset(db, "videos")
    assert doc["media_type"] == "video" and sample["video"] == "clip.mp4"
    assert sample["metadata"]["total_frame_count"] == 40 and sample["metadata"]["frame_width"] == 396
    frames = sorted(
        db[doc["frame_collection_name"]].find({"_sample_id": sample["_id"]}), key=lambda f: f["frame_number"]
    )
    assert [f["frame_number"] for f in frames] == list(range(1, 41))
    tracks = {
        "r18": (toy.predict_job, "clip"),
        "ens_seed0": (succeeded_child(toy, 0), "clip"),
        "ens_seed1": (succeeded_child(toy, 1), "clip"),
        "ens_EKS": (toy.smooth_job, "clip.eks"),
    }
    for field, (job, stem) in tracks.items():
        table = read_labels_bytes(csv_artifact(toy, job, f"{stem}.csv"))
        temporal = pd.read_csv(io.BytesIO(csv_artifact(toy, job, f"{stem}.temporal_norm.csv")), index_col=0)
        for i in (0, 1, 39):
            (kp,) = frames[i][field]["keypoints"]
            np.testing.assert_allclose(
                np.array(kp["points"], dtype=np.float64) * SIZE, table.xy[i], rtol=0, atol=1e-9
            )
            np.testing.assert_allclose(kp["confidence"], table.field("likelihood")[i], rtol=0, atol=1e-12)
            got = np.array([np.nan if v is None else v for v in kp["temporal_norm"]], dtype=np.float64)
            np.testing.assert_allclose(got, temporal.iloc[i][table.keypoints].to_numpy(float), equal_nan=True)
        assert "pca_singleview_error" in frames[1][field]["keypoints"][0]


def succeeded_child(toy: Toy, index: int) -> dict:
    with toy.client() as c:
        jobs = c.get(f"/projects/{toy.project}/jobs").json()
    children = sorted((j for j in jobs if j["parent_id"] == toy.smooth_job["id"]), key=lambda j: j["id"])
    return children[index]


def read_labels_bytes(content: bytes):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "predictions.csv"
        path.write_bytes(content)
        return read_labels(path)


def test_build_reports_progress(toy: Toy) -> None:
    progress = JobProgress.model_validate(toy.build_job["progress"])
    frames = 40 * 4  # 4 tracks
    assert progress == JobProgress(
        stage="adding predicted videos", done=frames, total=frames, unit="frames", eta_s=0
    )


def test_a_rebuild_after_a_new_model_adds_its_field(toy: Toy, db) -> None:
    with toy.client() as c:
        later = train(c, toy.project, "later")
        ids = [m["id"] for m in toy.models.values()] + [later["id"]]
        build_comparison(c, toy.project, ids, [], [toy.predict_job["id"], toy.smooth_job["id"]])
    doc, samples = dataset(db, "labeled-frames")
    assert len(samples) == 90 and "later" in {f["name"] for f in doc["sample_fields"]}
    assert sum(1 for s in samples if "later" in s) == 90
    assert {"later train", "later worst frames"} <= {
        v["name"] for v in db.views.find({"_dataset_id": doc["_id"]})
    }
    assert sorted(d["name"] for d in db.datasets.find()) == ["labeled-frames", "videos"]  # none half-built


def test_the_api_refuses_unknown_ids_and_other_users(toy: Toy) -> None:
    build = f"/projects/{toy.project}/fiftyone/build"
    with toy.client() as c:
        assert c.post(build, json={"model_ids": [999]}).status_code == 404
        assert c.post(build, json={"ensemble_ids": [999]}).status_code == 404
        assert c.post(build, json={"prediction_job_ids": [999]}).status_code == 404
        train_job = toy.models["r18"]["train_job_id"]
        resp = c.post(build, json={"prediction_job_ids": [train_job]})
        assert resp.status_code == 422 and "not video predictions" in resp.json()["detail"]
        assert c.post(build, json={}).status_code == 422
    bob, _ = toy.api.sign_in("bob")
    with toy.api.client(bob) as c:
        assert c.post(build, json={"model_ids": [toy.models["r18"]["id"]]}).status_code == 404
        assert c.get(f"/projects/{toy.project}/fiftyone").status_code == 404


def test_a_cancelled_build_leaves_the_previous_datasets_as_they_were(toy: Toy, db) -> None:
    before = {d["name"]: d["sample_fields"] for d in db.datasets.find()}
    with toy.client() as c:
        body = {"model_ids": [toy.models["r18"]["id"]], "prediction_job_ids": [toy.predict_job["id"]]}
        job = c.post(f"/projects/{toy.project}/fiftyone/build", json=body).json()
        while job["state"] == "queued":  # cancelled as it starts: the builder is still importing
            job = c.get(f"/projects/{toy.project}/jobs/{job['id']}").json()
            time.sleep(0.1)
        assert c.post(f"/projects/{toy.project}/jobs/{job['id']}/cancel").status_code == 200
        assert wait_job(c, toy.project, job["id"])["state"] == "cancelled"
    assert {d["name"]: d["sample_fields"] for d in db.datasets.find()} == before  # no half-built one
