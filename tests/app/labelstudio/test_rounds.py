"""Labeling rounds' requests against a real Label Studio: what is wrong, said; and the simulated
labeler the rounds' loop test (``tests/app/ui/test_rounds.py``) labels with."""

from __future__ import annotations

import io

import pandas as pd

from tests.app.labelstudio.conftest import Api


def label_frames(c, project: int, images: list[str]) -> None:
    """The simulated labeler: each image gets the keypoints of a labeled frame, moved by 1 px per pick."""
    table = pd.read_csv(
        io.BytesIO(c.get(f"/projects/{project}/labels").content), header=[0, 1, 2], index_col=0
    )
    template = table.iloc[0].to_numpy(float)
    for i, image in enumerate(images):
        table.loc[image] = template + i + 1
    resp = c.put(
        f"/projects/{project}/labels", params={"filename": "labels.csv"}, content=table.to_csv().encode()
    )
    assert resp.status_code == 200, resp.text


def test_round_requests_say_what_is_wrong(api: Api, toy) -> None:
    token, _, project = toy
    with api.client(token) as c:
        none = c.post(f"/projects/{project}/rounds", json={"budget": 3})
        assert none.status_code == 409 and "no videos to mine" in none.json()["detail"]
        assert c.post(f"/projects/{project}/rounds", json={"budget": 0}).status_code == 422
        unknown = c.post(f"/projects/{project}/rounds", json={"budget": 3, "ensemble_id": 99})
        assert unknown.status_code == 404
        assert c.post(f"/projects/{project}/rounds", json={"budget": 3, "video_ids": [99]}).status_code == 404
        assert c.post(f"/projects/{project}/rounds/1/train", json={}).status_code == 404
        assert c.get(f"/projects/{project}/rounds").json() == {"rounds": [], "stop_hint": None}
