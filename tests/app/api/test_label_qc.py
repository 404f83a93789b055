"""Label QC through the API on the toy project's real labels: the frames likely labeled wrong, with
their reasons, worst first; a planted error found; a reviewer's "right" clears a flag until the
frame's labels change."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from app.settings import Settings
from tests.worker.conftest import create_toy_project

# two paws clicked at one point in the toy labels as they are (0.0 and 0.7 px apart)
DUPLICATES = ["labeled-data/img88.png", "labeled-data/img87.png"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_upload_bytes": 50_000_000})


def _flagged(client: TestClient, alice: dict, project: int) -> dict[str, dict]:
    resp = client.get(f"/projects/{project}/labels/qc", headers=alice)
    assert resp.status_code == 200, resp.text
    (view,) = resp.json()["views"]
    assert view["frames"] == 90
    return {
        "flagged": {f["image"]: f for f in view["flagged"]},
        "reviewed": {f["image"] for f in view["reviewed"]},
    }


def _upload(client: TestClient, alice: dict, project: int, table: pd.DataFrame) -> None:
    resp = client.put(
        f"/projects/{project}/labels",
        params={"filename": "labels.csv"},
        content=table.to_csv().encode(),
        headers=alice,
    )
    assert resp.status_code == 200, resp.text


def test_flagged_frames_with_their_reasons_and_reviews(
    client: TestClient, alice, login, toy_labels_zip
) -> None:
    p = create_toy_project(client, alice, toy_labels_zip)
    report = _flagged(client, alice, p)
    images = list(report["flagged"])
    assert images[:2] == DUPLICATES  # definite problems first
    (reason,) = [r for r in report["flagged"][DUPLICATES[0]]["reasons"] if r["kind"] == "duplicate"]
    assert reason["keypoints"] == ["paw3RF_top", "paw4RH_top"] and "same point" in reason["detail"]
    assert 3 <= len(images) <= 12  # a few unusual poses besides, not most of the 90 frames

    # a planted error: one keypoint of a clean frame moved 60 px
    table = pd.read_csv(
        io.BytesIO(client.get(f"/projects/{p}/labels", headers=alice).content), header=[0, 1, 2], index_col=0
    )
    clean = next(i for i in table.index if i not in report["flagged"])
    column = next(c for c in table.columns if c[1] == "nose_top" and c[2] == "x")
    table.loc[clean, column] += 60.0
    _upload(client, alice, p, table)
    moved = _flagged(client, alice, p)["flagged"][clean]
    assert any(r["kind"] == "pose" and r["keypoints"] == ["nose_top"] for r in moved["reasons"]), moved

    # "these labels are right" clears the flag while the labels stay; a change flags them again
    resp = client.post(f"/projects/{p}/labels/qc/reviewed", json={"images": [DUPLICATES[1]]}, headers=alice)
    assert resp.status_code == 200, resp.text
    report = _flagged(client, alice, p)
    assert DUPLICATES[1] in report["reviewed"] and DUPLICATES[1] not in report["flagged"]
    column = next(c for c in table.columns if c[1] == "paw4RH_top" and c[2] == "x")
    table.loc[DUPLICATES[1], column] += 0.3  # still at one point, but not what was reviewed
    _upload(client, alice, p, table)
    report = _flagged(client, alice, p)
    assert DUPLICATES[1] in report["flagged"] and DUPLICATES[1] not in report["reviewed"]

    unknown = client.post(
        f"/projects/{p}/labels/qc/reviewed", json={"images": ["labeled-data/nope.png"]}, headers=alice
    )
    assert unknown.status_code == 404 and "GET labels/qc lists them" in unknown.json()["detail"]
    mallory = login("mallory")
    assert client.get(f"/projects/{p}/labels/qc", headers=mallory).status_code == 404
    refused = client.post(
        f"/projects/{p}/labels/qc/reviewed", json={"images": [DUPLICATES[0]]}, headers=mallory
    )
    assert refused.status_code == 404
