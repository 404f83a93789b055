"""End to end on the real toy data: train tiny models through the CLI, resume, predict, draw."""

import itertools
import json
import logging
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from core.cli import main
from core.config import load_project, load_train_config
from core.errors import ConfigError, LabelFormatError
from core.labels.dlc_csv import read_pose_csv
from core.predict.trained_model import TrainedModel
from core.training.train import train_model
from core.video.reader import iter_frames, probe_video
from tests.testdata import EXAMPLE_PROJECT, TINY, TOY_VIDEO


def test_training_writes_a_complete_model_folder(tiny_model):
    assert (tiny_model / "checkpoints" / "best.ckpt").is_file()
    assert (tiny_model / "checkpoints" / "last.ckpt").is_file()
    config = yaml.safe_load((tiny_model / "config.yaml").read_text())
    assert {k: len(v) for k, v in config["split"].items()} == {"train": 45, "validation": 9, "test": 36}
    metrics = pd.read_csv(tiny_model / "logs" / "metrics.csv")
    assert metrics["train_loss"].notna().sum() >= 10  # 5 steps an epoch, 2 epochs
    assert metrics["val_loss"].notna().sum() == 2

    predictions = read_pose_csv(tiny_model / "predictions.csv")
    assert len(predictions.index) == 90 and predictions.fields == ("x", "y", "likelihood")
    assert sorted(set(predictions.extra["set"])) == ["test", "train", "validation"]
    conf = predictions.field("likelihood")
    assert ((conf >= 0) & (conf <= 1)).all()

    errors = pd.read_csv(tiny_model / "pixel_error.csv", index_col=0)
    labels = read_pose_csv(load_project(EXAMPLE_PROJECT).data_dir / "CollectedData.csv")
    assert errors.shape == (90, 18)
    # NaN exactly where the label is missing
    np.testing.assert_array_equal(errors.iloc[:, :17].isna().to_numpy(), np.isnan(labels.xy).any(-1))
    summary = json.loads((tiny_model / "summary.json").read_text())
    assert summary["held_out_confidence"]["nan_labeled_count"] > 0
    assert summary["pixel_error"]["test"]["keypoints"] > 100


def test_resume_continues_from_the_last_checkpoint(tiny_model, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model, copy)
    seen: list[dict] = []
    project = load_project(EXAMPLE_PROJECT)
    train_model(
        project, load_train_config(None, {**TINY, "epochs": 3}), copy, resume=True, progress=seen.append
    )
    epochs = {p["epoch"] for p in seen}
    assert epochs == {3}, "only the third epoch runs after resuming (epochs count from 1)"
    assert seen[-1]["step"] == 15 and "train_loss" in seen[-1]["losses"]


def test_validation_pixel_error_is_the_models_in_frame_pixels_and_only_where_validation_ran(tmp_path):
    seen: list[dict] = []
    train = load_train_config(None, {**TINY, "val_every_n_epochs": 2, "device": "cpu"})  # float32 both ways
    result = train_model(load_project(EXAMPLE_PROJECT), train, tmp_path / "m", progress=seen.append)
    first, second = seen[-1]["history"]
    assert [first["epoch"], second["epoch"]] == [1, 2]
    assert [k for k in first["losses"] if k.startswith("val_")] == []  # no validation in epoch 1
    assert set(second["losses"]) >= {"val_loss", "val_pixel_error_px"}
    # The one validated epoch's checkpoint is the best: the Models page's figure (its validation
    # frames predicted in the frames' own pixels, 396 x 406, not the network's 64 x 64) is the same.
    models_page = result.summary["pixel_error"]["validation"]["mean"]
    assert second["losses"]["val_pixel_error_px"] == pytest.approx(models_page, rel=1e-5)
    metrics = pd.read_csv(tmp_path / "m" / "logs" / "metrics.csv")
    logged = metrics.dropna(subset=["val_pixel_error_px"])
    assert logged["epoch"].tolist() == [1] and "val_pixel_error" not in metrics
    assert logged["val_pixel_error_px"].iloc[0] == pytest.approx(models_page, rel=1e-5)


@pytest.mark.parametrize("precision", ["32", "bf16"])
def test_training_reduces_the_loss(tmp_path, caplog, precision):
    project = load_project(EXAMPLE_PROJECT)
    settings = {**TINY, "epochs": 6, "augmentation": "none", "val_fraction": 0.0, "cpu_precision": precision}
    with caplog.at_level(logging.INFO, logger="core.training.train"):
        train_model(project, load_train_config(None, settings), tmp_path / "m")
    assert (
        f"training on cpu in {precision}-{'true' if precision == '32' else 'mixed'} precision" in caplog.text
    )
    metrics = pd.read_csv(tmp_path / "m" / "logs" / "metrics.csv")
    by_epoch = metrics.dropna(subset=["train_loss"]).groupby("epoch")["train_loss"].mean()
    assert by_epoch.iloc[-1] < 0.8 * by_epoch.iloc[0]


def test_predict_video_and_labeled_video(tiny_model, toy_clip, tmp_path):
    code = subprocess.run(
        [
            sys.executable,
            "-m",
            "core.cli",
            "predict",
            str(tiny_model),
            str(toy_clip),
            "-o",
            str(tmp_path),
            "--labeled-video",
        ],
        capture_output=True,
        text=True,
    )
    assert code.returncode == 0, code.stderr
    table = read_pose_csv(tmp_path / "clip.csv")
    assert table.values.shape == (40, 17, 3)
    assert table.index == [str(i) for i in range(40)]
    xy = table.xy
    assert (xy[..., 0] >= -0.5).all() and (xy[..., 0] <= 396).all() and (xy[..., 1] <= 406).all()
    info = probe_video(tmp_path / "clip.labeled.mp4")
    assert (info.width, info.height, info.frame_count) == (396, 406, 40)


def test_coordinates_are_in_the_videos_own_pixels(tiny_model):
    model = TrainedModel.load(tiny_model, device="cpu")
    frames = np.stack(list(itertools.islice(iter_frames(TOY_VIDEO), 8)))
    xy, conf = model.predict_frames(frames)
    doubled = frames.repeat(2, axis=1).repeat(2, axis=2)
    xy2, conf2 = model.predict_frames(doubled)
    expected = (xy + 0.5) * 2 - 0.5
    assert np.median(np.abs(xy2 - expected)) < 1.0
    np.testing.assert_allclose(np.median(conf2), np.median(conf), atol=0.05)


def test_image_size_must_fit_the_model(tmp_path):
    with pytest.raises(ConfigError, match="not a multiple of 32"):
        train_model(
            load_project(EXAMPLE_PROJECT),
            load_train_config(None, {**TINY, "image_height": 100}),
            tmp_path / "m",
        )


def test_labels_that_do_not_match_the_project(tmp_path):
    project = load_project(EXAMPLE_PROJECT)
    renamed = project.model_copy(
        update={
            "keypoints": ["snout", *project.keypoints[1:]],
            "skeleton": [],
            "pca_keypoints": [],
            "view_matches": [],
        }
    )
    with pytest.raises(LabelFormatError, match=r"missing \['snout'\]"):
        train_model(renamed, load_train_config(None, TINY), tmp_path / "m")


def test_missing_image_files_are_named(tmp_path):
    project = load_project(EXAMPLE_PROJECT)
    data = tmp_path / "data"
    (data / "labeled-data").mkdir(parents=True)
    shutil.copy(project.data_dir / "CollectedData.csv", data)
    for name in sorted((project.data_dir / "labeled-data").iterdir())[:50]:
        shutil.copy(name, data / "labeled-data")
    moved = project.model_copy(update={"data_dir": data})
    with pytest.raises(LabelFormatError, match=r"labeled image\(s\) listed .* are missing"):
        train_model(moved, load_train_config(None, TINY), tmp_path / "m")


def test_cli_reports_bad_input_without_a_traceback(tiny_model, tmp_path, capsys):
    assert main(["train", str(EXAMPLE_PROJECT), "-o", str(tmp_path / "m"), "--set", "backbone=resnet9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "backbone" in err and "Traceback" not in err
    bad_video = tmp_path / "bad.mp4"
    bad_video.write_bytes(b"\x00" * 1000)
    assert main(["predict", str(tmp_path), str(bad_video)]) == 2
    assert "neither a model folder nor an ensemble" in capsys.readouterr().err
    assert main(["predict", str(tiny_model), str(bad_video), "-o", str(tmp_path / "out")]) == 2
    assert "bad.mp4 is not a readable video" in capsys.readouterr().err
    assert not (tmp_path / "out").exists(), "nothing is written for a corrupt video"


def _weights(model_dir) -> dict:
    return torch.load(model_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)[
        "state_dict"
    ]


def test_fine_tuning_starts_from_the_given_models_weights(tiny_model, tmp_path):
    """With a learning rate too small to move them, a fine-tuned network keeps the weights it
    started from; trained from scratch the same way, it does not."""
    project = load_project(EXAMPLE_PROJECT)
    still = {**TINY, "epochs": 1, "learning_rate": 1e-12, "freeze_backbone_epochs": 0}
    tuned = train_model(
        project, load_train_config(None, {**still, "init_from": str(tiny_model)}), tmp_path / "ft"
    )
    scratch = train_model(project, load_train_config(None, still), tmp_path / "scratch")
    start, after, fresh = _weights(tiny_model), _weights(tuned.model_dir), _weights(scratch.model_dir)
    learned = [k for k, v in start.items() if v.is_floating_point() and "running" not in k]
    assert len(learned) > 50
    assert max((after[k] - start[k]).abs().max().item() for k in learned) < 1e-6
    assert max((fresh[k] - start[k]).abs().max().item() for k in learned) > 1e-3  # 10 steps of training
    recorded = yaml.safe_load((tuned.model_dir / "config.yaml").read_text())["train"]["init_from"]
    assert recorded == str(tiny_model)  # the model folder says what it started from


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"backbone": "resnet34"}, "backbone 'resnet18' there, 'resnet34' here"),
        ({"model_type": "stacked_densenet", "image_height": 64}, "model_type 'heatmap' there"),
        ({"init_from": "/nonexistent/model"}, "init_from: "),
    ],
)
def test_fine_tuning_from_an_unfit_model_is_refused_before_anything_is_written(
    tiny_model, tmp_path, change, message
):
    config = load_train_config(None, {**TINY, "init_from": str(tiny_model), **change})
    with pytest.raises(ConfigError, match=re.escape(message)):
        train_model(load_project(EXAMPLE_PROJECT), config, tmp_path / "model")
    assert not (tmp_path / "model").exists()
