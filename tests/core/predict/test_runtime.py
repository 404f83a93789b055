"""Choosing what runs the network: float32 torch, bf16 autocast, ONNX Runtime, or ``auto``."""

import logging
import re
import time

import numpy as np
import pytest
import torch

from core.cli import build_parser
from core.errors import PoseCloudError
from core.predict.onnx_runtime import OnnxModel
from core.predict.runtime import RUNTIMES, describe_runtime, with_runtime
from core.predict.trained_model import TrainedModel
from core.video.reader import iter_frames
from tests.testdata import write_video


@pytest.fixture
def slow_torch(monkeypatch, always_compared):
    """Torch made the slowest runtime, so that ``auto`` compares every other one with it (it compares
    only those faster than torch)."""
    frame_stream = TrainedModel.frame_stream

    def slowed(self, *args):
        stream = frame_stream(self, *args)
        push = stream.push

        def slow_push(frames):
            time.sleep(0.5)
            return push(frames)

        stream.push = slow_push
        return stream

    monkeypatch.setattr(TrainedModel, "frame_stream", slowed)


def auto_choice(caplog) -> str:
    """The runtime ``auto`` logged as its choice (its last message)."""
    return re.match(r"tiny: runtime ([\w-]+): [\w-]+ [\d.]+ frames/s", caplog.records[-1].message)[1]


def test_bf16_runs_the_network_in_bfloat16_and_keeps_keypoints_near_float32(tiny_model, toy_clip):
    fp32 = TrainedModel.load(tiny_model, device="cpu")
    bf16 = with_runtime(fp32, "bf16", toy_clip, 16)
    output_dtypes = []
    bf16.network.register_forward_hook(lambda _m, _i, out: output_dtypes.append(out[0].dtype))
    frames = np.random.default_rng(0).integers(0, 255, (4, 406, 396, 3), dtype=np.uint8)
    xy_bf16, _ = bf16.predict_frames(frames)
    assert output_dtypes == [torch.bfloat16]
    xy_fp32, _ = fp32.predict_frames(frames)
    assert output_dtypes == [torch.bfloat16, torch.float32]  # the float32 model is left as it was
    moved = np.linalg.norm(xy_bf16 - xy_fp32, axis=-1)
    assert 0 < np.median(moved) < 2  # rounded, not another prediction
    assert describe_runtime(bf16).endswith("(cpu, bf16 autocast)") and describe_runtime(fp32).endswith(
        "(cpu)"
    )


def test_auto_picks_the_fastest_runtime_that_agrees_and_says_why(
    tiny_model, toy_clip, caplog, monkeypatch, slow_torch
):
    monkeypatch.setattr("core.predict.runtime.cpu_has_bf16", lambda: True)
    with caplog.at_level(logging.INFO, logger="core.predict.runtime"):
        chosen = with_runtime(TrainedModel.load(tiny_model, device="cpu"), "auto", toy_clip, 16)
    message = caplog.records[-1].message
    speeds = {m[1]: float(m[2]) for m in re.finditer(r"([\w-]+) ([\d.]+) frames/s", message)}
    # float32 runtimes only, bf16 ones not even on a CPU with bf16 instructions; the 40-frame clip
    # is shorter than 4 batches: every frame is compared
    assert set(speeds) == {"torch", "onnx", "openvino"}
    assert re.search(r"of float32 torch's on 40 frames of clip.mp4 \(0-15, 16-31, 32-39\)$", message)
    fastest = max(speeds, key=speeds.__getitem__)
    assert auto_choice(caplog) == fastest
    ran = chosen.engine if isinstance(chosen, OnnxModel) else "bf16" if chosen.cpu_bf16 else "torch"
    assert ran == fastest


def test_auto_leaves_out_a_runtime_whose_keypoints_disagree(
    tiny_model, toy_clip, caplog, monkeypatch, slow_torch
):
    to_frame_pixels = OnnxModel.to_frame_pixels
    monkeypatch.setattr(OnnxModel, "to_frame_pixels", lambda *args: to_frame_pixels(*args) + 1)
    with caplog.at_level(logging.INFO, logger="core.predict.runtime"):
        chosen = with_runtime(TrainedModel.load(tiny_model, device="cpu"), "auto", toy_clip, 16)
    assert not isinstance(chosen, OnnxModel) and not chosen.cpu_bf16 and auto_choice(caplog) == "torch"
    # 1 frame pixel in x and y is (64/396, 64/406) input pixels
    assert (
        "runtime onnx left out: its keypoints are up to 0.226 input pixels from float32 torch's"
        in caplog.text
    )


def test_auto_keeps_torch_for_a_short_video_without_exporting(tiny_model, toy_clip, caplog, monkeypatch):
    def no_export(model):
        raise AssertionError("exported")

    monkeypatch.setattr("core.predict.runtime.export_onnx", no_export)
    with caplog.at_level(logging.INFO, logger="core.predict.runtime"):
        chosen = with_runtime(TrainedModel.load(tiny_model, device="cpu"), "auto", toy_clip, 16)
    assert not isinstance(chosen, OnnxModel) and not chosen.cpu_bf16
    assert re.fullmatch(
        r"tiny: runtime torch: [\d.]+ frames/s, about \d+ s for the 40 frames of clip.mp4; other runtimes "
        r"are compared for videos of 60 s or more",
        caplog.records[-1].message,
    )


def test_auto_compares_runtimes_over_the_whole_video_not_only_its_start(
    tiny_model, toy_clip, tmp_path, caplog, monkeypatch, slow_torch
):
    """A runtime that agrees on the first frames and moves keypoints on later ones is left out (bf16
    did this to a briefly trained context model: 0.32 px on a clip's first 16 frames, 23 px later)."""
    frames = np.concatenate([np.stack(list(iter_frames(toy_clip))), np.zeros((60, 406, 396, 3), np.uint8)])
    video = write_video(tmp_path / "dark_end.mp4", frames, fps=250)
    run = OnnxModel.run

    def off_on_dark_frames(self, inputs):
        xy, confidence = run(self, inputs)
        dark = np.asarray(inputs).reshape(len(xy), -1).mean(axis=1) < 5
        return xy + dark[:, None, None], confidence

    monkeypatch.setattr(OnnxModel, "run", off_on_dark_frames)
    monkeypatch.setattr("core.predict.runtime.cpu_has_bf16", lambda: False)
    with caplog.at_level(logging.INFO, logger="core.predict.runtime"):
        chosen = with_runtime(TrainedModel.load(tiny_model, device="cpu"), "auto", video, 16)
    assert not isinstance(chosen, OnnxModel) and auto_choice(caplog) == "torch"
    assert (
        "runtime onnx left out: its keypoints are up to 1.41 input pixels from float32 torch's on "
        "64 frames of dark_end.mp4 (0-15, 28-43, 56-71, 84-99)" in caplog.text
    )


def test_auto_does_not_compare_the_runtimes_slower_than_torch(
    tiny_model, toy_clip, caplog, monkeypatch, always_compared
):
    run = OnnxModel.run
    compared = []

    def slow_and_off(self, inputs):
        time.sleep(0.5)
        compared.append(self.engine)
        xy, confidence = run(self, inputs)
        return xy + 1, confidence  # would be left out, if compared

    monkeypatch.setattr(OnnxModel, "run", slow_and_off)
    monkeypatch.setattr("core.predict.runtime.cpu_has_bf16", lambda: False)
    with caplog.at_level(logging.INFO, logger="core.predict.runtime"):
        chosen = with_runtime(TrainedModel.load(tiny_model, device="cpu"), "auto", toy_clip, 16)
    assert auto_choice(caplog) == "torch" and not isinstance(chosen, OnnxModel)
    assert "left out" not in caplog.text
    assert sorted(compared) == ["onnx", "onnx", "openvino", "openvino"]  # the first run, twice: timed


def test_bf16_on_a_cpu_without_bf16_instructions_warns_it_is_slower(
    tiny_model, toy_clip, caplog, monkeypatch
):
    monkeypatch.setattr("core.predict.runtime.cpu_has_bf16", lambda: False)
    with caplog.at_level(logging.WARNING, logger="core.predict.runtime"):
        with_runtime(TrainedModel.load(tiny_model, device="cpu"), "bf16", toy_clip, 16)
    assert "this CPU has no bf16 instructions: torch emulates bfloat16, slower than float32" in caplog.text


def test_openvino_bf16_runs_in_bfloat16_where_the_cpu_can_and_says_so(tiny_model, toy_clip, caplog):
    """OpenVINO takes bf16 as a hint: on a CPU with bf16 instructions it rounds (keypoints move a
    little); on one without, it predicts float32's keypoints, and the warning and the recorded runtime
    say float32."""
    import openvino

    native = "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    fp32 = TrainedModel.load(tiny_model, device="cpu")
    frames = np.random.default_rng(0).integers(0, 255, (4, 406, 396, 3), dtype=np.uint8)
    with caplog.at_level(logging.WARNING, logger="core.predict.runtime"):
        models = {name: with_runtime(fp32, name, toy_clip, 16) for name in ("openvino", "openvino-bf16")}
    xy = {name: model.predict_frames(frames)[0] for name, model in models.items()}
    moved = np.median(np.linalg.norm(xy["openvino-bf16"] - xy["openvino"], axis=-1))
    precision = "bfloat16" if native else "float32"
    assert re.fullmatch(rf"openvino [\d.]+ \(CPU, {precision}\)", describe_runtime(models["openvino-bf16"]))
    if native:
        assert 0 < moved < 2  # rounded, not another prediction
    else:
        assert moved == 0
        assert "OpenVINO predicts in float32 instead (as --runtime openvino)" in caplog.text


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_command_line_offers_every_runtime(runtime):
    assert (
        build_parser().parse_args(["predict", "model", "video.mp4", "--runtime", runtime]).runtime == runtime
    )


def test_an_unknown_runtime_is_refused(tiny_model, toy_clip):
    with pytest.raises(
        PoseCloudError,
        match="unknown runtime 'tensorrt'; choose one of auto, torch, bf16, onnx, openvino, openvino-bf16",
    ):
        with_runtime(TrainedModel.load(tiny_model, device="cpu"), "tensorrt", toy_clip, 16)
