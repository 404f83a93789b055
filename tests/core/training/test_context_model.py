"""The context model end to end on the real toy data: train a few steps, predict the labeled frames
and a video clip."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from core.cli import main
from core.config import load_project, load_train_config
from core.labels.dlc_csv import read_pose_csv
from core.predict.trained_model import TrainedModel
from core.predict.video import predict_video
from core.training.train import train_model
from tests.conftest import module_folder
from tests.testdata import EXAMPLE_PROJECT, TINY


@pytest.fixture(scope="module")
def context_model_dir(request):
    with module_folder(request, "models") as folder:
        train = load_train_config(None, {**TINY, "model_type": "context", "epochs": 1})
        train_model(load_project(EXAMPLE_PROJECT), train, folder / "context")
        yield folder / "context"


def test_a_context_model_trains_and_scores_its_labeled_frames(context_model_dir):
    assert yaml.safe_load((context_model_dir / "config.yaml").read_text())["train"]["model_type"] == "context"
    assert (context_model_dir / "checkpoints" / "best.ckpt").is_file()
    metrics = pd.read_csv(context_model_dir / "logs" / "metrics.csv")
    assert metrics["train_loss"].notna().sum() == 5 and metrics["val_pixel_error_px"].notna().sum() == 1
    predictions = read_pose_csv(context_model_dir / "predictions.csv")
    assert predictions.values.shape == (90, 17, 3)
    assert sorted(set(predictions.extra["set"])) == ["test", "train", "validation"]
    assert np.isfinite(predictions.xy).all()
    assert pd.read_csv(context_model_dir / "pixel_error.csv", index_col=0).shape == (90, 18)
    assert (
        json.loads((context_model_dir / "summary.json").read_text())["pixel_error"]["test"]["keypoints"] > 100
    )


def test_a_context_model_predicts_a_video_clip(context_model_dir, toy_clip, tmp_path):
    # float32 torch, as predict_video below
    command = ["predict", str(context_model_dir), str(toy_clip), "-o", str(tmp_path), "--runtime", "torch"]
    assert main(command) == 0
    table = read_pose_csv(tmp_path / "clip.csv")
    assert table.values.shape == (40, 17, 3)
    assert table.index == [str(i) for i in range(40)]
    conf = table.field("likelihood")
    assert ((conf >= 0) & (conf <= 1)).all()
    # the batch size changes how frames are grouped, not the predictions
    model = TrainedModel.load(context_model_dir, device="cpu")
    other, _ = predict_video(model, toy_clip, batch_size=7)
    np.testing.assert_allclose(other.xy, table.xy, atol=0.01)


def test_auto_keeps_a_context_models_keypoints_where_float32_puts_them(
    context_model_dir, toy_clip, tmp_path, always_compared
):
    """``auto`` compares the runtimes on every frame of a clip this short, so whichever it picks puts
    every keypoint within its tolerance of float32 torch's (bf16 agreed on this model's first batch
    and moved later keypoints by up to 23 px, when ``auto`` compared the first batch only and took
    bf16)."""
    float32_dir, auto_dir = tmp_path / "float32", tmp_path / "auto"
    assert (
        main(["predict", str(context_model_dir), str(toy_clip), "-o", str(float32_dir), "--runtime", "torch"])
        == 0
    )
    assert main(["predict", str(context_model_dir), str(toy_clip), "-o", str(auto_dir)]) == 0
    float32, auto = (read_pose_csv(folder / "clip.csv").xy for folder in (float32_dir, auto_dir))
    onnx_tolerance = 0.1 * 396 / 64  # AGREEMENT_PX input pixels in frame pixels (x; y is finer)
    assert np.linalg.norm(auto - float32, axis=-1).max() <= onnx_tolerance
