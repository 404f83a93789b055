"""Semi-supervised training on the real toy data: the labeled frames plus runs of the toy video's
first 40 frames (the project's only video here), with the temporal, Pose PCA and multi-view PCA
losses; the losses' own behaviour is tested in tests/core/losses."""

import json
import logging

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

import core.training.train as train_module
from core.cli import main
from core.config import ProjectConfig, load_project, load_train_config, save_yaml
from core.data.context_window import WINDOW
from core.data.unlabeled import make_unlabeled_loader
from core.errors import ConfigError
from core.labels.dlc_csv import read_pose_csv
from core.labels.formats import read_labels
from core.losses.unsupervised import log_weight_factor
from core.models.context import ContextHeatmapNet
from core.predict.trained_model import TrainedModel
from core.predict.video import predict_video
from core.training.module import PoseModule
from core.training.semisupervised import build_unsupervised
from core.training.train import train_model
from tests.conftest import module_folder
from tests.testdata import EXAMPLE_PROJECT, TINY

ALL_LOSSES = ["temporal", "pca_singleview", "pca_multiview"]
TERMS = [f"train_{name}_loss" for name in ALL_LOSSES]
# Epoch 0 with an annealing factor of 0, epoch 1 with 1.
SEMI = {
    **TINY,
    "losses": ALL_LOSSES,
    "unlabeled_seq_len": 4,
    "anneal_start_epoch": 0,
    "anneal_increase_per_epoch": 1.0,
}


def _sets(settings: dict) -> list[str]:
    return [arg for k, v in settings.items() for arg in ("--set", f"{k}={json.dumps(v)}")]


@pytest.fixture(scope="module")
def clip_project(toy_clip, tmp_path_factory) -> ProjectConfig:
    """The example project (real labels) whose video_dir holds only the 40-frame toy clip."""
    videos = tmp_path_factory.mktemp("videos")
    (videos / "clip.mp4").symlink_to(toy_clip)
    return load_project(EXAMPLE_PROJECT).model_copy(update={"video_dir": str(videos)})


@pytest.fixture(scope="module")
def semi_model(clip_project, request):
    """A heatmap model trained semi-supervised through the CLI."""
    with module_folder(request, "semi") as folder:
        save_yaml(clip_project, folder / "project.yaml")
        assert main(["train", str(folder / "project.yaml"), "-o", str(folder / "model"), *_sets(SEMI)]) == 0
        yield folder / "model"


def _metrics(model_dir) -> pd.DataFrame:
    metrics = pd.read_csv(model_dir / "logs" / "metrics.csv")
    return metrics.dropna(subset=["train_loss"])


def test_every_unsupervised_term_is_logged_and_annealed(semi_model):
    config = yaml.safe_load((semi_model / "config.yaml").read_text())["train"]
    assert config["losses"] == ALL_LOSSES and config["unlabeled_seq_len"] == 4
    steps = _metrics(semi_model)
    assert len(steps) == 10  # 5 labeled batches an epoch, 2 epochs
    for column in ["train_supervised_loss", "annealing_factor"]:
        assert np.isfinite(steps[column]).all(), column

    # annealing factor 0: no unlabeled run is read, the loss is the supervised loss
    first = steps[steps["epoch"] == 0]
    assert (first["annealing_factor"] == 0).all() and first[TERMS].isna().all().all()
    np.testing.assert_array_equal(first["train_loss"], first["train_supervised_loss"])
    # factor 1: every step takes an unlabeled run; the loss is the supervised loss plus the weighted
    # terms (default weights: log_weight 5)
    second = steps[steps["epoch"] == 1]
    assert (second["annealing_factor"] == 1).all()
    assert np.isfinite(second[TERMS]).all().all() and (second[TERMS].to_numpy() >= 0).all()
    assert (second[TERMS].to_numpy() > 0).any()
    weighted = second[TERMS].sum(axis=1) * log_weight_factor(5.0)
    np.testing.assert_allclose(second["train_loss"], second["train_supervised_loss"] + weighted, rtol=1e-5)


def test_a_semi_supervised_model_predicts_and_writes_the_metrics(semi_model, toy_clip, tmp_path):
    # labeled frames: PCA errors next to the pixel errors, same layout
    pixel_error = pd.read_csv(semi_model / "pixel_error.csv", index_col=0)
    for name in ("pca_singleview_error", "pca_multiview_error"):
        table = pd.read_csv(semi_model / f"predictions.{name}.csv", index_col=0)
        assert table.shape == pixel_error.shape and list(table.columns) == list(pixel_error.columns)
        assert table["set"].tolist() == pixel_error["set"].tolist()
    # a video: the prediction and its per frame x keypoint metrics
    assert main(["predict", str(semi_model), str(toy_clip), "-o", str(tmp_path)]) == 0
    assert read_pose_csv(tmp_path / "clip.csv").values.shape == (40, 17, 3)
    for name in ("temporal_norm", "pca_singleview_error", "pca_multiview_error"):
        table = pd.read_csv(tmp_path / f"clip.{name}.csv", index_col=0)
        assert table.shape == (40, 17)
    temporal = pd.read_csv(tmp_path / "clip.temporal_norm.csv", index_col=0).to_numpy()
    assert np.isnan(temporal[0]).all() and np.isfinite(temporal[1:]).all()


def test_a_semi_supervised_context_model_trains_and_predicts(clip_project, toy_clip, tmp_path):
    # 45 training frames, batch 16: 2 steps an epoch
    settings = {**SEMI, "model_type": "context", "batch_size": 16, "train_fraction": 0.5}
    train_model(clip_project, load_train_config(None, settings), tmp_path / "m")
    steps = _metrics(tmp_path / "m")
    assert len(steps) == 4 and np.isfinite(steps["train_loss"]).all()
    annealed = steps[steps["annealing_factor"] == 1]
    assert len(annealed) == 2 and np.isfinite(annealed[TERMS].to_numpy()).all()
    assert (annealed["train_loss"] >= annealed["train_supervised_loss"]).all()
    model = TrainedModel.load(tmp_path / "m", device="cpu")
    table, _ = predict_video(model, toy_clip, batch_size=16)
    assert table.values.shape == (40, 17, 3) and np.isfinite(table.xy).all()


def test_a_pca_loss_without_enough_complete_frames_is_dropped_with_a_clear_message(
    clip_project, tmp_path, caplog
):
    # 18 training frames: too few for the Pose PCA (29 complete frames for 14 keypoints), enough for
    # the multi-view PCA (rows are body parts: 10 needed)
    settings = {**SEMI, "train_fraction": 0.2}
    with caplog.at_level(logging.WARNING, logger="core.training.semisupervised"):
        train_model(clip_project, load_train_config(None, settings), tmp_path / "m")
    assert (
        "pca_singleview: Pose PCA needs at least 29 frames with all of its 14 keypoints labeled (28 dimensions), "
        "but the 18 labeled frames of the training split have" in caplog.text
    )
    assert "training goes on without the pca_singleview loss" in caplog.text
    steps = _metrics(tmp_path / "m")
    assert "train_pca_singleview_loss" not in steps.columns
    annealed = steps[steps["annealing_factor"] == 1]
    columns = ["train_loss", "train_supervised_loss", "train_temporal_loss", "train_pca_multiview_loss"]
    assert len(annealed) > 0 and np.isfinite(annealed[columns].to_numpy()).all()


def test_losses_the_project_cannot_have_stop_training_before_it_starts(clip_project, tmp_path):
    train = load_train_config(None, {**SEMI, "losses": ["pca_multiview"]})
    no_views = clip_project.model_copy(update={"view_matches": []})
    with pytest.raises(ConfigError, match="'pca_multiview' needs 2 or more views: separate cameras"):
        train_model(no_views, train, tmp_path / "a")
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"losses": ["temporal", "temporal"]}, "repeated: \\['temporal'\\]"),
        ({"losses": ["smoothness"]}, "losses.0: Input should be 'temporal'"),
        ({"loss_weights": {"temporal": -1.0}}, "loss weights must be 0 or more"),
        ({"unlabeled_seq_len": 1}, "unlabeled_seq_len"),
    ],
)
def test_bad_semi_supervised_settings_are_named(settings, message):
    with pytest.raises(ConfigError, match=message):
        load_train_config(None, settings)


def test_loss_weights_not_named_keep_their_default():
    weights = load_train_config(None, {"loss_weights": {"temporal": 0.5}}).loss_weights
    assert weights == {
        "temporal": 0.5,
        "pca_singleview": log_weight_factor(5.0),
        "pca_multiview": log_weight_factor(5.0),
    }


def test_an_out_of_memory_restart_halves_the_unlabeled_run_too(clip_project, tmp_path, monkeypatch, caplog):
    real_fit, runs = train_module._fit, []

    def fit(project, run, *args):
        runs.append((run.batch_size, run.unlabeled_seq_len))
        if len(runs) == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        return real_fit(project, run, *args)

    monkeypatch.setattr(train_module, "_fit", fit)
    settings = {**SEMI, "train_fraction": 0.2, "epochs": 1, "losses": ["temporal"]}
    with caplog.at_level(logging.WARNING):
        train_model(clip_project, load_train_config(None, settings), tmp_path / "m")
    assert runs == [(8, 4), (4, 2)]
    assert "unlabeled frames per step: 2 after the out-of-memory error" in caplog.text
    config = yaml.safe_load((tmp_path / "m" / "config.yaml").read_text())["train"]
    assert (config["batch_size"], config["unlabeled_seq_len"]) == (4, 2)


@pytest.mark.parametrize("model_type", ["heatmap", "stacked_densenet", "context"])
def test_every_model_type_predicts_unlabeled_runs_with_gradients(clip_project, toy_clip, model_type):
    torch.manual_seed(0)
    train = load_train_config(
        None,
        {
            **SEMI,
            "model_type": model_type,
            "densenet_stacks": 1,
            "densenet_growth_rate": 8,
            "posture_graph": True,
        },
    )
    labels = read_labels(clip_project.data_dir / clip_project.labels_file)
    unsupervised = build_unsupervised(clip_project, train, [labels])
    module = PoseModule(clip_project, train, unsupervised, [toy_clip])
    loader = make_unlabeled_loader(clip_project, train, "cpu", 6, seed=0)
    try:
        batch = next(loader)
    finally:
        loader.close()
    heads = 2 if model_type == "context" else 1
    xy, confidence = module._predict_run(batch["frames"])
    assert xy.shape == (heads, 1, 6, 17, 2) and confidence.shape == (heads, 1, 6, 17)
    assert not confidence.requires_grad
    terms = module.unsupervised_terms(batch)
    assert list(terms) == ALL_LOSSES
    assert terms["temporal"].per_keypoint.shape == (heads, 1, 5, 17)
    unsupervised.weighted_sum(terms).backward()
    grads = [p.grad for p in module.network.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_a_context_run_predicts_each_frame_from_its_padded_window():
    torch.manual_seed(0)
    network = ContextHeatmapNet("resnet18", 3).eval()
    frames = torch.randn(7, 3, 64, 64)
    with torch.no_grad():
        single, temporal = network.forward_run(frames)
        index = np.clip(np.arange(7)[:, None] + np.arange(WINDOW) - 2, 0, 6)
        expected_single, expected_temporal = network(frames[torch.as_tensor(index)])
    torch.testing.assert_close(single, expected_single, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(temporal, expected_temporal, atol=1e-4, rtol=1e-4)
