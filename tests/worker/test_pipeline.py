"""End to end through the API and real worker processes: labels, upload, a 2-member ensemble trained
in parallel, prediction with the ensemble (members, then EKS), downloads."""

from __future__ import annotations

import io
from datetime import datetime

import numpy as np
import pandas as pd
import yaml
from fastapi.testclient import TestClient
from pynwb import NWBHDF5IO

from core.labels.nwb import read_pose_nwb
from core.predict.provenance import smoothing_method
from tests.conftest import SQLITE_ONLY
from tests.testdata import TINY
from tests.worker.conftest import wait_for


def _read_pose_csv(content: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(content), header=[0, 1, 2], index_col=0)


@SQLITE_ONLY
def test_ensemble_trains_in_parallel_and_predicts(
    client: TestClient, alice, toy_project, toy_video_id, start_worker, settings, tmp_path
) -> None:
    start_worker(2)
    p = toy_project
    labels = client.get(f"/projects/{p}/labels", headers=alice)
    assert labels.status_code == 200 and len(_read_pose_csv(labels.content)) == 90

    transcode = client.get(f"/projects/{p}/jobs", params={"state": None}, headers=alice).json()
    assert [j["kind"] for j in transcode] == ["transcode"]
    done = wait_for(client, alice, p, transcode[0]["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded", done
    assert client.get(f"/projects/{p}/videos/{toy_video_id}", headers=alice).json()["transcoded"] is True

    resp = client.post(
        f"/projects/{p}/videos/{toy_video_id}/extract-frames", json={"n": 4, "context": 1}, headers=alice
    )
    assert resp.status_code == 201, resp.text
    extracted = wait_for(client, alice, p, resp.json()["id"], {"succeeded", "failed"})
    assert extracted["state"] == "succeeded", extracted
    picks = pd.read_csv(
        io.BytesIO(
            client.get(f"/projects/{p}/jobs/{extracted['id']}/artifacts/frames.csv", headers=alice).content
        )
    )
    assert len(picks) == 4 and picks["image"].str.startswith("labeled-data/test_vid/img").all()
    data = settings.data_root / "storage" / "projects" / str(p) / "data"
    images = data / "labeled-data" / "test_vid"
    assert all((data / name).is_file() for name in picks["image"])
    assert 8 <= len(list(images.glob("*.png"))) <= 12  # each pick with a neighbour on each side
    again = client.post(
        f"/projects/{p}/videos/{toy_video_id}/extract-frames", json={"n": 4, "context": 0}, headers=alice
    )
    again = wait_for(client, alice, p, again.json()["id"], {"succeeded", "failed"})
    more = client.get(f"/projects/{p}/jobs/{again['id']}/artifacts/frames.csv", headers=alice).content
    assert not set(pd.read_csv(io.BytesIO(more))["image"]) & set(picks["image"])  # not picked twice

    resp = client.post(
        f"/projects/{p}/ensembles", json={"name": "ens", "train": TINY, "seeds": [0, 1]}, headers=alice
    )
    assert resp.status_code == 201, resp.text
    ensemble = resp.json()
    assert [m["name"] for m in ensemble["members"]] == ["ens-seed0", "ens-seed1"]
    jobs = [
        wait_for(client, alice, p, m["train_job_id"], {"succeeded", "failed"}) for m in ensemble["members"]
    ]
    assert [j["state"] for j in jobs] == ["succeeded", "succeeded"], jobs
    assert len({j["worker"] for j in jobs}) == 2, "each member should run on its own slot"
    starts = [datetime.fromisoformat(j["started_at"]) for j in jobs]
    ends = [datetime.fromisoformat(j["finished_at"]) for j in jobs]
    assert max(starts) < min(ends), "the two members should have trained at the same time"
    losses = jobs[0]["progress"]["losses"]
    assert losses["epoch"] == TINY["epochs"] and "train_loss" in losses["latest"]
    members = client.get(f"/projects/{p}/ensembles/{ensemble['id']}", headers=alice).json()["members"]
    assert all(m["state"] == "succeeded" and m["summary"]["pixel_error"]["test"]["mean"] > 0 for m in members)

    resp = client.post(
        f"/projects/{p}/predictions",
        json={"video_id": toy_video_id, "ensemble_id": ensemble["id"]},
        headers=alice,
    )
    assert resp.status_code == 201, resp.text
    smooth = wait_for(client, alice, p, resp.json()["id"], {"succeeded", "failed"})
    assert smooth["state"] == "succeeded", smooth
    children = [
        j for j in client.get(f"/projects/{p}/jobs", headers=alice).json() if j["parent_id"] == smooth["id"]
    ]
    assert sorted(j["params"]["model_id"] for j in children) == sorted(m["id"] for m in members)
    assert {
        "test_vid.eks.csv",
        "test_vid.eks.temporal_norm.csv",
        "test_vid.eks.pca_singleview_error.csv",
        "test_vid.eks.pca_multiview_error.csv",
    } <= set(smooth["artifacts"])
    assert all({"test_vid.temporal_norm.csv", "test_vid.nwb"} <= set(j["artifacts"]) for j in children)
    assert {"test_vid.eks.nwb", "test_vid.eks.variances.csv"} <= set(smooth["artifacts"])

    eks = _read_pose_csv(
        client.get(f"/projects/{p}/jobs/{smooth['id']}/artifacts/test_vid.eks.csv", headers=alice).content
    )
    assert eks.shape[0] == 994
    assert eks.columns.get_level_values(1).nunique() == 17
    x = eks.xs("x", axis=1, level=2).to_numpy()
    nwb = tmp_path / "eks.nwb"  # the same trajectory as NWB (ndx-pose), for DANDI and the NWB tools
    nwb.write_bytes(
        client.get(f"/projects/{p}/jobs/{smooth['id']}/artifacts/test_vid.eks.nwb", headers=alice).content
    )
    keypoints = list(eks.columns.get_level_values(1).unique())
    from_nwb = read_pose_nwb(nwb).select_keypoints(keypoints).xy[..., 0]
    np.testing.assert_allclose(from_nwb, x, rtol=1e-6, atol=1e-3)  # NWB holds float32
    # the provenance `posecloud predict` records, under the names the pages show
    scorer, settings = _provenance(nwb)
    assert scorer == "ens" and list(settings["members"]) == ["ens-seed0", "ens-seed1"]
    assert settings["smoothing"] == smoothing_method(None)
    assert [settings["members"][f"ens-seed{i}"]["train"]["seed"] for i in (0, 1)] == [0, 1]
    assert np.isfinite(x).all() and (x >= -50).all() and (x <= 450).all()
    member_x = []
    for child in children:
        got = client.get(f"/projects/{p}/jobs/{child['id']}/artifacts/test_vid.csv", headers=alice)
        member = _read_pose_csv(got.content)
        assert member.shape == (994, 17 * 3)
        name = next(m["name"] for m in members if m["id"] == child["params"]["model_id"])
        assert set(member.columns.get_level_values(0)) == {name}  # the scorer, not a storage folder
        (tmp_path / "member.nwb").write_bytes(
            client.get(f"/projects/{p}/jobs/{child['id']}/artifacts/test_vid.nwb", headers=alice).content
        )
        scorer, member_settings = _provenance(tmp_path / "member.nwb")
        assert scorer == name
        # left out, the runtime is auto, as on the command line; auto keeps torch for a video this short
        assert child["params"]["runtime"] == "auto" and member_settings["runtime"].startswith("torch")
        member_x.append(member.xs("x", axis=1, level=2).to_numpy())
    # The smoothed trajectory jitters less than any member (temporal norm, px per frame).
    jitter = lambda a: np.nanmedian(np.abs(np.diff(a, axis=0)))  # noqa: E731
    assert jitter(x) < min(jitter(m) for m in member_x)

    # one member again with ONNX Runtime: the same keypoints as torch's, and the file says which ran
    first = next(c for c in children if c["params"]["model_id"] == members[0]["id"])
    resp = client.post(
        f"/projects/{p}/predictions",
        json={"video_id": toy_video_id, "model_id": members[0]["id"], "runtime": "onnx"},
        headers=alice,
    )
    assert resp.status_code == 201, resp.text
    onnx_job = wait_for(client, alice, p, resp.json()["id"], {"succeeded", "failed"})
    assert onnx_job["state"] == "succeeded" and onnx_job["params"]["runtime"] == "onnx", onnx_job
    artifact = f"/projects/{p}/jobs/{{}}/artifacts/test_vid.csv"
    with_torch, with_onnx = (
        _read_pose_csv(client.get(artifact.format(j["id"]), headers=alice).content) for j in (first, onnx_job)
    )
    # x in frame pixels; 0.65 px is 0.1 px of the 64-pixel network input. A few keypoints can differ
    # by more (one by 5.3 px of the 16,898 in one run; not traced yet: a near-tie in the decoding?)
    apart = np.abs(with_onnx.to_numpy() - with_torch.to_numpy())[:, 0::3]
    assert np.mean(apart[np.isfinite(apart)] <= 0.65) >= 0.995 and np.nanmedian(apart) < 0.01
    (tmp_path / "onnx.nwb").write_bytes(
        client.get(f"/projects/{p}/jobs/{onnx_job['id']}/artifacts/test_vid.nwb", headers=alice).content
    )
    assert _provenance(tmp_path / "onnx.nwb")[1]["runtime"].startswith("onnxruntime")


def _provenance(nwb) -> tuple[str, dict]:
    """An NWB pose file's scorer and the settings its description records."""
    with NWBHDF5IO(str(nwb), "r", load_namespaces=True) as io:
        estimation = io.read().processing["behavior"]["PoseEstimation"]
        return estimation.scorer, yaml.safe_load(estimation.description.split("\n", 1)[1])


@SQLITE_ONLY
def test_semi_supervised_training_uses_the_uploaded_videos(
    client: TestClient, alice, toy_project, toy_video_id, start_worker
) -> None:
    start_worker(1)
    config = {**TINY, "losses": ["temporal", "pca_singleview", "pca_multiview"], "unlabeled_seq_len": 4}
    config.update(anneal_start_epoch=0, anneal_increase_per_epoch=1.0)
    resp = client.post(
        f"/projects/{toy_project}/models", json={"name": "semi", "train": config}, headers=alice
    )
    assert resp.status_code == 201, resp.text
    job = wait_for(client, alice, toy_project, resp.json()["train_job_id"], {"succeeded", "failed"})
    assert job["state"] == "succeeded", job
    losses = job["progress"]["losses"]["latest"]
    for term in ("train_temporal_loss", "train_pca_singleview_loss", "train_pca_multiview_loss"):
        assert np.isfinite(losses[term]), losses
