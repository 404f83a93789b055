"""`train_model`: labels -> a model folder (config, checkpoints, metrics, labeled-frame predictions)."""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader

from core.config import ProjectConfig, TrainConfig, view_suffix
from core.data.labeled_frames import LabeledFrames, load_project_labels, split_frames
from core.errors import ConfigError, PoseCloudError
from core.labels.dlc_csv import write_pose_csv
from core.labels.table import PoseTable
from core.predict.labeled_frames import score_labeled_frames, summarize, write_pixel_error
from core.predict.metrics import prediction_metrics
from core.predict.trained_model import CONFIG_FILE, TrainedModel, load_model_config, load_weights, pick_device
from core.training.callbacks import ProgressHook, ProgressReporter
from core.training.module import PoseModule
from core.training.oom import fit_with_batch_halving
from core.training.precision import trainer_precision
from core.training.semisupervised import (
    UnsupervisedLosses,
    build_unsupervised,
    check_semisupervised,
    check_videos,
    fit_training_pcas,
    resolve_seq_len,
    rows_of,
    unlabeled_video_paths,
)

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    model_dir: Path
    best_checkpoint: Path
    summary: dict


def train_model(
    project: ProjectConfig,
    train: TrainConfig,
    model_dir: str | Path,
    *,
    resume: bool = False,
    progress: ProgressHook | None = None,
    split: dict[str, np.ndarray] | None = None,
) -> TrainResult:
    """Train one model and evaluate it on its labeled frames, split into train / validation / test
    rows by ``split_frames`` (or as ``split`` gives them: a benchmark's fixed test frames).

    Writes into ``model_dir``: config.yaml (project + training settings + split), checkpoints/
    (best by validation loss, and last), metrics.csv (every logged value per step/epoch),
    predictions.csv (labeled frames, with a `set` column), pixel_error.csv, the labeled frames' PCA
    errors (``predictions.pca_singleview_error.csv``, ``predictions.pca_multiview_error.csv``) and
    summary.json. ``resume`` continues from checkpoints/last.ckpt. On a GPU, a CUDA out-of-memory
    error restarts training from the last checkpoint with half the batch size (and half the
    unlabeled run length; logged, and config.yaml records them).

    With ``train.losses`` (semi-supervised), the unlabeled videos and the losses are checked first
    (a ConfigError / VideoError before anything is written), the PCAs are fitted on the training
    split (one that cannot be fitted is dropped with a warning), and config.yaml records the
    unlabeled run length in use.
    """
    model_dir = Path(model_dir)
    last = model_dir / "checkpoints" / "last.ckpt"
    if resume and not last.is_file():
        raise PoseCloudError(f"cannot resume: {last} does not exist; start a new training instead")
    if not resume and (model_dir / CONFIG_FILE).exists():
        raise PoseCloudError(f"{model_dir} already holds a model; choose another folder or pass --resume")
    if train.init_from:
        check_init_from(project, train)
    videos: list[Path] = []
    if train.semi_supervised:
        check_semisupervised(project, train)
        train = train.model_copy(
            update={"unlabeled_seq_len": resolve_seq_len(train, pick_device(train.device))}
        )
        videos = unlabeled_video_paths(project, train)
    labels = load_project_labels(project)
    if videos:
        check_videos(project, videos, train.unlabeled_seq_len, labels)
    model_dir.mkdir(parents=True, exist_ok=True)

    L.seed_everything(train.seed, workers=True, verbose=False)
    if split is None:
        split = split_frames(labels[0].index, train.train_fraction, train.val_fraction, train.seed)
    _write_config(model_dir, project, train, split, labels[0].index)
    unsupervised = build_unsupervised(project, train, [rows_of(t, split["train"]) for t in labels])
    seq_len = train.unlabeled_seq_len

    def fit(batch_size: int, restarted: bool) -> ModelCheckpoint:
        nonlocal seq_len
        if restarted and unsupervised is not None:
            seq_len = max(2, seq_len // 2)
        run = train.model_copy(update={"batch_size": batch_size, "unlabeled_seq_len": seq_len})
        if restarted:  # the folder records the batch size in use
            if unsupervised is not None:
                log.warning("unlabeled frames per step: %d after the out-of-memory error", seq_len)
            _write_config(model_dir, project, run, split, labels[0].index)
        resume_from = last if (resume or restarted) and last.is_file() else None
        return _fit(project, run, labels, split, model_dir, resume_from, progress, unsupervised, videos)

    checkpoint = fit_with_batch_halving(fit, train.batch_size)
    best = Path(checkpoint.best_model_path or last)
    if best.name != "best.ckpt" and best.is_file():  # no monitored value yet: keep last as best
        (model_dir / "checkpoints" / "best.ckpt").write_bytes(best.read_bytes())
    summary = evaluate(model_dir, labels, split, train.device)
    return TrainResult(model_dir, model_dir / "checkpoints" / "best.ckpt", summary)


def _fit(
    project: ProjectConfig,
    run: TrainConfig,
    labels: list[PoseTable],
    split: dict[str, np.ndarray],
    model_dir: Path,
    resume_from: Path | None,
    progress: ProgressHook | None,
    unsupervised: UnsupervisedLosses | None = None,
    videos: list[Path] | None = None,
) -> ModelCheckpoint:
    """One Lightning fit (continuing from the checkpoint ``resume_from`` if given); returns its checkpoint callback.

    ``unsupervised`` (with the unlabeled ``videos``) makes it semi-supervised."""
    device = pick_device(run.device)
    datasets = {
        name: LabeledFrames(project, labels, split[name], run, augment=name == "train")
        for name in ("train", "validation")
    }
    loaders = {
        name: DataLoader(
            dataset,
            batch_size=run.batch_size,
            shuffle=name == "train",
            num_workers=run.num_workers,
            persistent_workers=run.num_workers > 0,
            drop_last=name == "train" and len(dataset) > run.batch_size,
        )
        for name, dataset in datasets.items()
    }
    has_val = len(split["validation"]) > 0
    checkpoint = ModelCheckpoint(
        dirpath=model_dir / "checkpoints",
        filename="best",
        # the supervised loss picks the best checkpoint (Lightning Pose: the validation loss)
        monitor="val_loss" if has_val else "train_supervised_loss" if unsupervised else "train_loss",
        mode="min",
        save_last=True,
        enable_version_counter=False,
    )
    precision = trainer_precision(run, device)
    log.info("training on %s in %s precision", device, precision)
    callbacks: list[L.Callback] = [checkpoint]
    if progress:
        callbacks.append(ProgressReporter(progress))
    trainer = L.Trainer(
        max_epochs=run.epochs,
        max_time={"minutes": run.max_minutes} if run.max_minutes else None,
        accelerator=device.type,
        devices=1,
        precision=precision,
        callbacks=callbacks,
        logger=CSVLogger(model_dir, name="", version="logs"),
        check_val_every_n_epoch=run.val_every_n_epochs,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        enable_progress_bar=bool(os.environ.get("POSECLOUD_PROGRESS_BAR")),
        enable_model_summary=False,
        deterministic=False,
    )
    module = PoseModule(project, run, unsupervised, videos or ())
    if run.init_from and resume_from is None:  # a resumed fine-tuning has its own checkpoint
        loaded = load_weights(module.network, Path(run.init_from))
        log.info("fine-tuning from %s (%s)", run.init_from, loaded.name)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            # Lightning's own use of a torch class that torch deprecates: nothing for the user to do
            warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated", category=FutureWarning)
            trainer.fit(
                module,
                loaders["train"],
                loaders["validation"] if has_val else None,
                ckpt_path=str(resume_from) if resume_from else None,
            )
    finally:
        module.close_unlabeled()
    return checkpoint


def check_init_from(project: ProjectConfig, train: TrainConfig) -> None:
    """A ConfigError, before anything is written, unless ``train.init_from`` is a trained model of
    the same keypoints (in the same order), model type and backbone."""
    source = Path(train.init_from)
    try:
        their_project, theirs = load_model_config(source)
    except PoseCloudError as e:
        raise ConfigError(f"init_from: {e}") from None
    differences = [
        f"{name} {a!r} there, {b!r} here"
        for name, a, b in (
            ("keypoints", their_project.keypoints, project.keypoints),
            ("model_type", theirs.model_type, train.model_type),
            ("backbone", theirs.backbone, train.backbone),
        )
        if a != b
    ]
    if differences:
        raise ConfigError(
            f"init_from: {source.name} cannot start this training ({'; '.join(differences)}); fine-tune "
            "from a model of this project with the same model type and backbone, or leave init_from empty"
        )


def evaluate(model_dir: Path, labels: list[PoseTable], split, device: str = "auto") -> dict:
    """Predict the labeled frames (one label table per view) with the best checkpoint and write the
    scores: predictions.csv, pixel_error.csv, the PCA errors of the predictions (PCAs fitted on the
    training split; ``predictions.<metric>.csv``, with the pixel-error layout and its `set` column)
    and summary.json. With separate cameras the CSVs are per view (``predictions_<view>.csv``, ...)
    and summary.json holds every view's together plus each view's under ``views``."""
    model = TrainedModel.load(model_dir, device)
    project = model.project
    scored = [score_labeled_frames(model, table, project.data_dir, split) for table in labels]
    predictions = [p for p, _ in scored]
    for view, (table, pixel_error) in zip(project.views, scored, strict=True):
        suffix = view_suffix(project.views, view)
        write_pose_csv(table, model_dir / f"predictions{suffix}.csv")
        write_pixel_error(pixel_error, model_dir / f"pixel_error{suffix}.csv")
    train_labels = [rows_of(t, split["train"]) for t in labels]
    _write_labeled_pca_errors(model, predictions, train_labels, scored[0][1]["set"], model_dir)
    summary = summarize(labels, predictions, split)
    if project.separate_cameras:
        summary["views"] = {
            view: summarize([t], [p], split)
            for view, t, p in zip(project.views, labels, predictions, strict=True)
        }
    (model_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    for name, stats in summary["pixel_error"].items():
        log.info("%s: mean pixel error %.2f px (%d keypoints)", name, stats["mean"], stats["keypoints"])
    return summary


def _write_labeled_pca_errors(
    model: TrainedModel, predictions: list[PoseTable], train_labels: list[PoseTable], sets, model_dir: Path
) -> None:
    """``predictions.pca_singleview_error.csv`` / ``predictions.pca_multiview_error.csv`` (per view
    with separate cameras) for the labeled frames (the temporal norm means nothing for them: they
    are not consecutive)."""
    project = model.project
    multiview = project.separate_cameras or len(project.view_matches) >= 2
    wanted = ["pca_singleview"] + (["pca_multiview"] if multiview else [])
    source = f"the {len(train_labels[0].index)} labeled frames of the training split"
    pcas = fit_training_pcas(
        project, train_labels, wanted, source, "no predictions.{name}_error.csv", logging.INFO
    )
    metrics = prediction_metrics(project, predictions, {f"{name}_error": pca for name, pca in pcas.items()})
    for view, tables in zip(project.views, metrics, strict=True):
        for name, table in tables.items():
            if name != "temporal_norm":
                table.index.name = "image"
                table["set"] = list(sets)
                write_pixel_error(
                    table, model_dir / f"predictions{view_suffix(project.views, view)}.{name}.csv"
                )


def _write_config(
    model_dir: Path, project: ProjectConfig, train: TrainConfig, split: dict, index: list[str]
) -> None:
    config = {
        "project": project.model_dump(mode="json"),
        "train": train.model_dump(mode="json"),
        "split": {name: [index[int(r)] for r in rows] for name, rows in split.items()},
        "torch": str(torch.__version__),
    }
    tmp = model_dir / f".{CONFIG_FILE}.tmp"
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    tmp.replace(model_dir / CONFIG_FILE)
