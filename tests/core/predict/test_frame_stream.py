"""Sliding-window prediction of consecutive frames with the context model (random weights)."""

import numpy as np
import pytest
import torch

from core.config import ProjectConfig, TrainConfig
from core.models.factory import build_network
from core.predict.frame_stream import join_keypoints
from core.predict.trained_model import TrainedModel


@pytest.fixture(scope="module")
def context_model() -> TrainedModel:
    torch.manual_seed(0)
    project = ProjectConfig(name="p", keypoints=["a", "b", "c"])
    train = TrainConfig(
        model_type="context", backbone="resnet18", pretrained="none", image_height=64, image_width=64
    )
    return TrainedModel(build_network(project, train).eval(), project, train, torch.device("cpu"), "ctx")


def _frames(n: int) -> np.ndarray:
    return np.random.default_rng(n).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)


def _padded_windows(frames: np.ndarray) -> np.ndarray:
    """``(N, 5, h, w, 3)``: frame t with t-2..t+2, the ends repeated."""
    index = np.clip(np.arange(len(frames))[:, None] + np.arange(-2, 3), 0, len(frames) - 1)
    return frames[index]


@pytest.mark.parametrize(("n", "pushes"), [(11, [3, 1, 4, 3]), (11, [11]), (2, [1, 1]), (1, [1])])
def test_streamed_windows_equal_windows_predicted_one_by_one(context_model, n, pushes):
    frames = _frames(n)
    expected_xy, expected_conf = context_model.predict_resized(_padded_windows(frames), 128, 96)
    stream = context_model.frame_stream(128, 96)
    parts, start, rows_after_push = [], 0, []
    for size in pushes:
        parts.append(stream.push(frames[start : start + size]))
        start += size
        rows_after_push.append(len(parts[-1][0]))
    assert rows_after_push[0] == max(0, pushes[0] - 2), "predictions lag two frames behind"
    parts.append(stream.finish())
    xy, conf = join_keypoints(parts)
    assert xy.shape == (n, 3, 2) and conf.shape == (n, 3)
    np.testing.assert_allclose(xy, expected_xy, atol=1e-3)
    np.testing.assert_allclose(conf, expected_conf, atol=1e-4)


def test_predict_frames_takes_a_run_of_consecutive_frames(context_model):
    frames = _frames(6)
    xy, conf = context_model.predict_frames(np.repeat(np.repeat(frames, 2, axis=1), 3, axis=2))
    expected_xy, expected_conf = context_model.predict_resized(_padded_windows(frames), 192, 128)
    np.testing.assert_allclose(xy, expected_xy, atol=0.05)
    assert xy.shape == (6, 3, 2) and conf.shape == (6, 3)
