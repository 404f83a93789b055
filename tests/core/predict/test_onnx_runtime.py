"""Exported models: every model type, exported to ONNX, predicts the toy video's real frames like
torch does; the file's metadata is enough to run it with onnxruntime and numpy alone; ``posecloud
predict --runtime`` and ``posecloud export --format onnx`` end to end, and their errors."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime
import pytest
import torch
import yaml
from pynwb import NWBHDF5IO

from core.cli import main
from core.config import load_project, load_train_config
from core.data.images import IMAGENET_MEAN, IMAGENET_STD
from core.errors import PoseCloudError
from core.labels.dlc_csv import read_pose_csv
from core.models.pose_graph import PoseGraph
from core.predict.onnx_export import write_onnx
from core.predict.onnx_runtime import OnnxModel
from core.predict.runtime import with_runtime
from core.predict.trained_model import TrainedModel, load_model_config
from core.predict.video import predict_video
from core.training.train import train_model
from core.video.reader import probe_video
from tests.conftest import module_folder
from tests.testdata import EXAMPLE_PROJECT, REPO, TINY, make_camera_project

AGREEMENT_PX = 0.1
CONFIDENCE_TOLERANCE = 1e-3
KINDS = ["heatmap", "subpixel", "stacked_densenet", "context", "multiview"]


def model_folder(model_dir: Path, dest: Path) -> Path:
    """A copy of a model folder's settings and checkpoints (a folder this module may write into)."""
    shutil.copytree(model_dir / "checkpoints", dest / "checkpoints")
    shutil.copy(model_dir / "config.yaml", dest / "config.yaml")
    return dest


@pytest.fixture(scope="module", params=KINDS)
def case(request, tiny_model, toy_clip) -> Iterator[tuple[str, Path, Path]]:
    """``(kind, model folder, video)``: a briefly trained model of each type (the heatmap one with
    either decoder; a two-camera project's model predicting one camera's video)."""
    with module_folder(request, request.param) as folder:
        yield _trained_case(request.param, folder, tiny_model, toy_clip)


def _trained_case(kind: str, folder: Path, tiny_model: Path, toy_clip: Path) -> tuple[str, Path, Path]:
    if kind == "heatmap":
        return kind, tiny_model, toy_clip
    if kind == "subpixel":
        model_dir = model_folder(tiny_model, folder / "model")
        config = yaml.safe_load((model_dir / "config.yaml").read_text())
        config["train"]["decoder"] = "subpixel"
        (model_dir / "config.yaml").write_text(yaml.safe_dump(config))
        return kind, model_dir, toy_clip
    if kind == "multiview":
        project = load_project(make_camera_project(folder / "project", video_frames=40))
        train_model(project, load_train_config(None, {**TINY, "epochs": 1}), folder / "model")
        return kind, folder / "model", folder / "project" / "videos" / "test_vid_top.mp4"
    train = load_train_config(None, {**TINY, "model_type": kind, "epochs": 1})
    train_model(load_project(EXAMPLE_PROJECT), train, folder / "model")
    return kind, folder / "model", toy_clip


@pytest.mark.parametrize("engine", ["onnx", "openvino"])
def test_the_exported_graph_predicts_torchs_keypoints(case, engine):
    """ONNX Runtime and OpenVINO (float32) against torch (float32)."""
    _, model_dir, video = case
    model = TrainedModel.load(model_dir, device="cpu")
    # batches of 16 of the 40 frames: the context model's windows span batches
    with_torch, _ = predict_video(model, video, batch_size=16)
    with_onnx, _ = predict_video(OnnxModel.from_trained(model, engine), video, batch_size=16)
    assert with_onnx.values.shape == with_torch.values.shape == (40, len(model.project.keypoints), 3)
    # In network-input pixels: where subpixel maxima's grid (1/100 heatmap pixel) has a near tie,
    # rounding moves a keypoint by one step, 0.04 input pixels (0.25 frame pixels at 64 of 396), and
    # its confidence with it; that happens to a few keypoints in a hundred. Where a briefly trained
    # model's flat map has two peaks equal to rounding, either engine can take the other one: seen
    # at one keypoint of 680 (1.5 input pixels), on ONNX Runtime and OpenVINO alike, for one
    # training of the heatmap model and not another; hence one keypoint in 200 at most.
    info = probe_video(video)
    to_input = [model.train.image_width / info.width, model.train.image_height / info.height]
    moved = np.linalg.norm((with_onnx.xy - with_torch.xy) * to_input, axis=-1)
    assert (moved > AGREEMENT_PX).mean() <= 0.005
    same = moved < 1e-3
    assert same.mean() >= 0.98
    confidence_gap = np.abs(with_onnx.field("likelihood") - with_torch.field("likelihood"))
    assert confidence_gap[same].max() <= CONFIDENCE_TOLERANCE


def test_the_exported_file_says_how_to_run_it(case, tmp_path):
    kind, model_dir, _ = case
    path = write_onnx(model_dir, tmp_path / "model.onnx")
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    project, train = load_model_config(model_dir)
    assert json.loads(props["keypoints"]) == project.keypoints
    assert (
        json.loads(props["views"])
        == project.views
        == (["top", "bottom"] if kind == "multiview" else ["main"])
    )
    assert (props["input_height"], props["input_width"]) == ("64", "64")
    assert json.loads(props["mean"]) == list(IMAGENET_MEAN) and json.loads(props["std"]) == list(IMAGENET_STD)
    assert props["model_type"] == train.model_type and props["decoder"] == train.decoder
    assert props["posecloud_version"] == metadata.version("posecloud")
    assert props["context_frames"] == ("5" if kind == "context" else "1")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == json.loads(props["outputs"])
    assert json.loads(props["decoded_in_graph"]) == (kind != "subpixel")
    assert [i.name for i in session.get_inputs()] == [props["input_name"]]


def readme_keypoints(model_path: Path, frames_bgr: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The README's example of running an exported model without posecloud (onnxruntime, numpy,
    cv2), taken from the README itself: its code up to the camera, on ``model_path``."""
    readme = (REPO / "README.md").read_text()
    (example,) = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "onnxruntime" in b]
    code = example.split("capture = cv2.VideoCapture")[0].replace(
        "runs/mouse-r18/model.onnx", str(model_path)
    )
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 (the README's own example)
    return namespace["keypoints"](frames_bgr)


def test_the_file_runs_without_posecloud(tiny_model, toy_clip, tmp_path):
    path = write_onnx(tiny_model, tmp_path / "model.onnx")
    capture = cv2.VideoCapture(str(toy_clip))
    frames = [capture.read()[1] for _ in range(16)]
    capture.release()
    xy, confidence = readme_keypoints(path, frames)
    with_torch, _ = predict_video(TrainedModel.load(tiny_model, device="cpu"), toy_clip, batch_size=16)
    assert np.abs(xy - with_torch.xy[:16]).max() <= AGREEMENT_PX
    assert np.abs(confidence - with_torch.field("likelihood")[:16]).max() <= CONFIDENCE_TOLERANCE


def test_predict_with_runtime_onnx_writes_what_torch_writes(tiny_model, toy_clip, tmp_path):
    for runtime in ("torch", "onnx"):
        out = tmp_path / runtime
        args = ["predict", str(tiny_model), str(toy_clip), "-o", str(out), "--runtime", runtime]
        assert main([*args, "--format", "both"]) == 0
    with_torch, with_onnx = (read_pose_csv(tmp_path / r / "clip.csv") for r in ("torch", "onnx"))
    assert with_onnx.index == with_torch.index and with_onnx.scorer == with_torch.scorer
    assert np.abs(with_onnx.xy - with_torch.xy).max() <= AGREEMENT_PX
    with NWBHDF5IO(str(tmp_path / "onnx" / "clip.nwb"), "r", load_namespaces=True) as io:
        description = io.read().processing["behavior"]["PoseEstimation"].description
    assert yaml.safe_load(description.split("\n", 1)[1])["runtime"].startswith("onnxruntime ")


def test_the_onnx_runtime_refuses_a_model_on_the_gpu(tiny_model):
    model = dataclasses.replace(TrainedModel.load(tiny_model, device="cpu"), device=torch.device("cuda"))
    with pytest.raises(PoseCloudError, match="predicts on the CPU.*pass --device cpu with --runtime onnx"):
        OnnxModel.from_trained(model)


def test_a_network_that_does_not_export_is_refused_with_the_reason(
    tiny_model, toy_clip, tmp_path, monkeypatch, capsys, caplog, always_compared
):
    monkeypatch.setattr(PoseGraph, "forward", lambda self, images: (torch.fft.fft2(images).abs(),))
    assert main(["export", str(tiny_model), "--format", "onnx", "-o", str(tmp_path / "m.onnx")]) == 2
    error = capsys.readouterr().err
    assert "tiny (heatmap, resnet18) cannot be exported to ONNX: " in error and "--runtime torch" in error
    assert not (tmp_path / "m.onnx").exists()
    assert main(["predict", str(tiny_model), str(toy_clip), "-o", str(tmp_path), "--runtime", "onnx"]) == 2
    assert "cannot be exported to ONNX" in capsys.readouterr().err
    # auto falls back to torch and says why
    with caplog.at_level(logging.WARNING, logger="core.predict.runtime"):
        chosen = with_runtime(TrainedModel.load(tiny_model, device="cpu"), "auto", toy_clip, 16)
    assert not isinstance(chosen, OnnxModel)
    assert "runtimes onnx, openvino left out: tiny (heatmap" in caplog.text


def test_export_writes_model_onnx_into_the_model_folder(tiny_model, tmp_path, capsys):
    model_dir = model_folder(tiny_model, tmp_path / "mouse")
    assert main(["export", str(model_dir), "--format", "onnx"]) == 0
    assert (model_dir / "model.onnx").is_file()
    assert f"{model_dir / 'model.onnx'}: ONNX model" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("source", "to_format", "message"),
    [
        ("model", "nwb", "a trained model's folder exports with --format onnx"),
        ("predictions.csv", "onnx", "--format onnx exports a trained model: pass its folder"),
        ("ensemble", "onnx", "is an ensemble folder: export each member's folder on its own"),
    ],
)
def test_export_says_what_to_pass(tiny_model, tmp_path, capsys, source, to_format, message):
    model_folder(tiny_model, tmp_path / "model")
    model_folder(tiny_model, tmp_path / "ensemble" / "seed0")
    (tmp_path / "predictions.csv").write_text("scorer\n")
    assert main(["export", str(tmp_path / source), "--format", to_format]) == 2
    assert message in capsys.readouterr().err
