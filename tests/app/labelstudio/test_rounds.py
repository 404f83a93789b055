"""Labeling rounds' requests against a real Label Studio: what is wrong, said; and the simulated
labeler the rounds' loop test (``tests/app/ui/test_rounds.py``) labels with."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from app.cli import main
from tests.app.labelstudio.conftest import Api
from tests.testdata import TOY_VIDEO


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


def test_rounds_from_the_command_line(api: Api, toy, monkeypatch, capsys) -> None:
    """``posecloud rounds`` against the running service: who asks, which project, what is wrong, said in
    one line (exit 2); a round started, listed, shown and refused training until labeled."""
    token, _, project = toy

    def posecloud(*args: str) -> tuple[int, str, str]:
        code = main(["rounds", *args, "--server", api.url])
        out, err = capsys.readouterr()
        return code, out, err

    monkeypatch.delenv("POSECLOUD_TOKEN", raising=False)
    code, _, err = posecloud("list", "--project", "mirror-mouse")
    assert code == 2 and "POSECLOUD_TOKEN" in err and "--user" in err
    monkeypatch.setenv("POSECLOUD_PASSWORD", "wrong")
    code, _, err = posecloud("list", "--project", "mirror-mouse", "--user", "alice")
    assert code == 2 and "password" in err.lower()
    monkeypatch.setenv("POSECLOUD_PASSWORD", "correct horse")
    assert posecloud("list", "--project", "mirror-mouse", "--user", "alice")[:2] == (
        0,
        "mirror-mouse has no labeling rounds yet: start one with `posecloud rounds start`.\n",
    )

    monkeypatch.setenv("POSECLOUD_TOKEN", token)
    code, _, err = posecloud("list", "--project", "arena")
    assert code == 2 and f"you have no project 'arena'; yours: 'mirror-mouse' ({project})" in err
    code, _, err = posecloud("start", "--project", "mirror-mouse", "--budget", "3")
    assert code == 2 and "no videos to mine" in err  # the service's words
    with api.client(token) as c:
        resp = c.post(
            f"/projects/{project}/videos", params={"filename": "a.mp4"}, content=TOY_VIDEO.read_bytes()
        )
        assert resp.status_code == 201, resp.text
    code, _, err = posecloud("start", "--project", str(project), "--budget", "3", "--ensemble", "best")
    assert code == 2 and "the project has no ensemble 'best'; it has: none" in err
    code, _, err = posecloud("start", "--project", str(project), "--budget", "3", "--video", "b.mp4")
    assert code == 2 and "no video 'b.mp4'; it has: 'a.mp4'" in err

    code, out, _ = posecloud("start", "--project", "mirror-mouse", "--budget", "3", "--video", "a.mp4")
    assert code == 0 and out.startswith("Round 1 is picking 3 frames from a.mp4 with varied postures")
    code, out, _ = posecloud("list", "--project", "mirror-mouse")
    assert code == 0 and out.splitlines()[1].split()[:3] == ["1", "picking", "0/3"]
    code, out, _ = posecloud("show", "1", "--project", "mirror-mouse")
    assert code == 0 and out.startswith("Round 1: picking, from varied postures (no model yet), on a.mp4")
    code, _, err = posecloud("show", "2", "--project", "mirror-mouse")
    assert code == 2 and "has no round 2" in err
    code, _, err = posecloud("train", "1", "--project", "mirror-mouse")
    assert code == 2 and "round 1 is picking; it trains once every frame it picked is labeled" in err
    with pytest.raises(SystemExit):  # argparse: a budget must be 1 or more
        main(["rounds", "start", "--project", "mirror-mouse", "--budget", "0"])
