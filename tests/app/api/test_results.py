"""What the results pages read: a model's labeled-frame scores, a prediction's trajectories (an
ensemble's EKS with its variances and its members), the labeled video for the browser (session
cookie, byte ranges) and a video's frame; with the files a worker would have written."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.labels.dlc_csv import write_pose_csv
from core.labels.table import PREDICTION_FIELDS, PoseTable
from tests.app.api.test_model_admin import _finish
from tests.testdata import TINY, write_video
from worker.state.db.models import Job

KEYPOINTS = ["paw", "nose"]
FRAMES = 6


def _poses(path: Path, index: list[str], offset: float, fields=PREDICTION_FIELDS, extra=None) -> Path:
    values = offset + np.arange(len(index) * len(KEYPOINTS) * len(fields), dtype=float)
    values = values.reshape(len(index), len(KEYPOINTS), len(fields))
    return write_pose_csv(PoseTable(KEYPOINTS, index, values, fields, "s", extra or {}), path)


def _metric(path: Path, index: list, values: np.ndarray, name: str, sets=None) -> Path:
    table = pd.DataFrame(values, index=pd.Index(index, name=name), columns=KEYPOINTS)
    if sets is not None:
        table["set"] = sets
    table.to_csv(path)
    return path


def _publish(client: TestClient, job_id: int, files: dict[str, Path]) -> None:
    """``files`` as the succeeded job's artifacts."""
    storage = client.app.state.storage
    with client.app.state.sessions() as session:
        job = session.get(Job, job_id)
        for name, path in files.items():
            storage.put_file(path, f"projects/{job.project_id}/jobs/{job_id}/{name}")
        job.artifacts = {name: f"projects/{job.project_id}/jobs/{job_id}/{name}" for name in files}
        job.state = "succeeded"
        session.commit()


@pytest.fixture
def video(client: TestClient, alice, project_id, tmp_path: Path) -> dict:
    frames = np.zeros((FRAMES, 32, 48, 3), np.uint8)
    frames[:, :, :, 1] = (40 * np.arange(FRAMES))[:, None, None]
    path = write_video(tmp_path / "clip.mp4", frames)
    resp = client.post(
        f"/projects/{project_id}/videos",
        params={"filename": "clip.mp4"},
        content=path.read_bytes(),
        headers=alice,
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_a_models_labeled_frame_scores(client: TestClient, alice, project_id, tmp_path: Path) -> None:
    p = f"/projects/{project_id}"
    model = client.post(f"{p}/models", json={"name": "m", "train": TINY}, headers=alice).json()
    assert client.get(f"{p}/models/{model['id']}/labeled-frames", headers=alice).status_code == 409
    _finish(client, model["train_job_id"])
    images, sets = ["labeled-data/a/img1.png", "labeled-data/a/img2.png"], ["train", "test"]
    error = np.array([[1.5, np.nan], [2.0, 8.0]])
    prefix = f"projects/{project_id}/models/{model['id']}"
    storage = client.app.state.storage
    for name, path in {
        "pixel_error.csv": _metric(tmp_path / "e.csv", images, error, "image", sets),
        "predictions.csv": _poses(tmp_path / "p.csv", images, 0.0, extra={"set": sets}),
        "predictions.pca_singleview_error.csv": _metric(
            tmp_path / "pca.csv", images, error / 2, "image", sets
        ),
    }.items():
        storage.put_file(path, f"{prefix}/{name}")

    scores = client.get(f"{p}/models/{model['id']}/labeled-frames", headers=alice).json()
    assert (scores["model"], scores["keypoints"]) == ("m", KEYPOINTS)
    columns = scores["columns"]
    assert columns["image"] == [images[0], images[0], images[1], images[1]]
    assert columns["set"] == ["train", "train", "test", "test"]
    assert columns["keypoint"] == KEYPOINTS * 2
    assert columns["pixel_error"] == [1.5, None, 2.0, 8.0]
    assert columns["confidence"] == [2.0, 5.0, 8.0, 11.0]  # each keypoint's third value
    assert columns["pca_singleview_error"] == [0.75, None, 1.0, 4.0]
    assert client.get(f"{p}/models/999/labeled-frames", headers=alice).status_code == 404


def test_a_predictions_traces_labeled_video_and_frames(
    client: TestClient, alice, project_id, video, tmp_path: Path
) -> None:
    p = f"/projects/{project_id}"
    model = client.post(f"{p}/models", json={"name": "m", "train": TINY}, headers=alice).json()
    _finish(client, model["train_job_id"])
    job = client.post(
        f"{p}/predictions", json={"video_id": video["id"], "model_id": model["id"]}, headers=alice
    )
    job = job.json()
    assert job["params"]["labeled_video"] is True  # a short video is drawn unasked
    assert client.get(f"{p}/jobs/{job['id']}/traces", headers=alice).status_code == 409
    frames = [str(i) for i in range(FRAMES)]
    norm = np.arange(FRAMES * 2, dtype=float).reshape(FRAMES, 2)
    norm[0] = np.nan
    labeled = write_video(tmp_path / "labeled.mp4", np.zeros((FRAMES, 32, 48, 3), np.uint8))
    labeled_bytes = labeled.read_bytes()
    _publish(
        client,
        job["id"],
        {
            "clip.csv": _poses(tmp_path / "clip.csv", frames, 0.0),
            "clip.temporal_norm.csv": _metric(tmp_path / "tn.csv", list(range(FRAMES)), norm, "frame"),
            "clip.labeled.mp4": labeled,
        },
    )

    traces = client.get(
        f"{p}/jobs/{job['id']}/traces", params={"keypoints": ["nose"], "start": 1, "stop": 3}, headers=alice
    )
    assert traces.status_code == 200, traces.text
    columns = traces.json()["columns"]
    assert traces.json()["keypoints"] == ["nose"] and traces.json()["video"] == "clip.mp4"
    assert (
        columns["source"] == ["m", "m"] and columns["frame"] == [1, 2] and columns["keypoint"] == ["nose"] * 2
    )
    assert columns["x"] == [9.0, 15.0] and columns["likelihood"] == [11.0, 17.0]
    assert columns["temporal_norm"] == [3.0, 5.0]
    every = client.get(f"{p}/jobs/{job['id']}/traces", headers=alice).json()["columns"]
    assert len(every["frame"]) == FRAMES * 2 and every["temporal_norm"][:2] == [None, None]
    unknown = client.get(f"{p}/jobs/{job['id']}/traces", params={"keypoints": ["tail"]}, headers=alice)
    assert unknown.status_code == 422 and "unknown keypoints ['tail']" in unknown.json()["detail"]
    not_a_prediction = client.get(f"{p}/jobs/{model['train_job_id']}/traces", headers=alice)
    assert not_a_prediction.status_code == 404 and "not a prediction" in not_a_prediction.json()["detail"]

    url = f"{p}/jobs/{job['id']}/labeled-video"
    client.cookies.clear()  # signing in left the session cookie
    assert client.get(url).status_code == 401
    cookie = alice["Authorization"].removeprefix("Bearer ")
    played = client.get(url, cookies={"posecloud_session": cookie}, headers={"Range": "bytes=0-99"})
    assert played.status_code == 206 and played.headers["content-type"] == "video/mp4"
    assert played.content == labeled_bytes[:100]

    frame = client.get(f"{p}/videos/{video['id']}/frames/3", headers=alice)
    assert frame.status_code == 200 and frame.headers["content-type"] == "image/png"
    image = cv2.imdecode(np.frombuffer(frame.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (32, 48, 3) and abs(int(image[16, 24, 1]) - 120) < 8
    outside = client.get(f"{p}/videos/{video['id']}/frames/{FRAMES}", headers=alice)
    assert outside.status_code == 422 and "frames 0 to 5" in outside.json()["detail"]


def test_an_ensembles_eks_with_its_variances_and_members(
    client: TestClient, alice, project_id, video, tmp_path: Path
) -> None:
    p = f"/projects/{project_id}"
    ensemble = client.post(
        f"{p}/ensembles", json={"name": "e", "seeds": [0, 1], "train": TINY}, headers=alice
    )
    ensemble = ensemble.json()
    _finish(client, *(m["train_job_id"] for m in ensemble["members"]))
    body = {"video_id": video["id"], "ensemble_id": ensemble["id"], "labeled_video": False}
    job = client.post(f"{p}/predictions", json=body, headers=alice).json()
    assert job["params"]["labeled_video"] is False
    frames = [str(i) for i in range(FRAMES)]
    for i, member in enumerate(job["members"]):
        _publish(client, member["id"], {"clip.csv": _poses(tmp_path / f"m{i}.csv", frames, 100.0 * (i + 1))})
    variances = (
        "x_ens_median",
        "y_ens_median",
        "x_ens_var",
        "y_ens_var",
        "x_posterior_var",
        "y_posterior_var",
    )
    _publish(
        client,
        job["id"],
        {
            "clip.eks.csv": _poses(tmp_path / "eks.csv", frames, 0.0),
            "clip.eks.variances.csv": _poses(tmp_path / "var.csv", frames, 0.0, variances),
        },
    )
    params = {"keypoints": ["paw"], "start": 0, "stop": 1, "members": True}
    columns = client.get(f"{p}/jobs/{job['id']}/traces", params=params, headers=alice).json()["columns"]
    assert columns["source"] == ["e (EKS)", "e-seed0", "e-seed1"]
    assert columns["x"] == [0.0, 100.0, 200.0]
    assert columns["x_ens_var"] == [2.0, None, None]
    missing = client.get(f"{p}/jobs/{job['id']}/labeled-video", headers=alice)
    assert missing.status_code == 404 and "labeled_video: true" in missing.json()["detail"]
