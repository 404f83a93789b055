"""The ``train`` job: train one model (``core.training.train.train_model``) on the project's labels,
and with unsupervised losses its uploaded videos; a later attempt resumes from the last checkpoint."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from core.config import ProjectConfig, TrainConfig, parse_config
from core.errors import PoseCloudError
from worker.jobs.project_data import link_videos, project_config, project_row
from worker.jobs.runner import JobContext
from worker.state.db.models import Model, Project
from worker.state.label_versions import record_version, version_key
from worker.state.layout import data_prefix, labels_file
from worker.state.progress import TrainingLosses

log = logging.getLogger(__name__)


def train(ctx: JobContext) -> dict:
    """Train one model; a later attempt resumes from the model's last checkpoint."""
    from core.training.train import train_model  # torch and Lightning load only in workers

    model: Model = project_row(ctx, Model, ctx.job.params["model_id"], "model")
    project = project_row(ctx, Project, ctx.job.project_id, "project")
    data_dir = ctx.workspace.fetch(data_prefix(project.id))
    project_cfg = project_config(project, data_dir)
    missing = [
        view for view, path in zip(project.views, project_cfg.labels_paths, strict=True) if not path.is_file()
    ]
    if missing:
        which = f" for view(s) {', '.join(missing)}" if len(project.views) > 1 else ""
        raise PoseCloudError(f"the project has no labels{which} yet; upload or import labels, then train")
    project_cfg = _on_label_version(ctx, project, model, project_cfg)
    model_dir = ctx.workspace.local_dir(model.storage_prefix)
    resume = (model_dir / "checkpoints" / "last.ckpt").is_file()
    if resume:
        log.info("resuming model %s from its last checkpoint (attempt %d)", model.name, ctx.job.attempt)
    elif any(model_dir.iterdir()):
        shutil.rmtree(model_dir)  # an earlier attempt died before its first checkpoint
    config = parse_config(TrainConfig, model.train_config, "train_config")
    if model.start_model is not None:  # fine-tuning: the weights of the model it starts from
        config = config.model_copy(
            update={"init_from": str(ctx.workspace.fetch(model.start_model.storage_prefix))}
        )
    ctx.clock.limit_s = config.max_minutes * 60 if config.max_minutes else None
    with tempfile.TemporaryDirectory(prefix="posecloud-videos-") as videos:
        if config.losses:  # semi-supervised: the project's uploaded videos are the unlabeled frames
            link_videos(ctx, project.videos, Path(videos))
            project_cfg = project_cfg.model_copy(update={"video_dir": videos})
        result = train_model(
            project_cfg, config, model_dir, resume=resume, progress=lambda r: _report_training(ctx, r)
        )
    model.summary = result.summary
    ctx.session.commit()
    return {
        key.rpartition("/")[2]: key
        for key in ctx.workspace.publish(model.storage_prefix)
        if "/checkpoints/" not in key
    }


def _on_label_version(
    ctx: JobContext, project: Project, model: Model, config: ProjectConfig
) -> ProjectConfig:
    """``config`` reading the labels from the copy of their version, recorded on the model: the
    version of the labels as they are now, or on a later attempt the one the first attempt used.
    Labels that change while the model trains do not change what it learns from, and the model's
    config.yaml names the files it learned from."""
    if model.label_version is None:
        model.label_version = record_version(ctx.session, ctx.storage, project, "training")
        ctx.session.commit()
    version = model.label_version
    folder = [ctx.workspace.fetch_file(version_key(project, version, view)) for view in project.views][
        0
    ].parent
    return config.model_copy(
        update={"labels_file": os.path.relpath(folder / labels_file(project.views), config.data_dir)}
    )


def _report_training(ctx: JobContext, report: dict) -> None:
    """A training's report (``core.training.callbacks.ProgressReporter``) as the job's progress: the
    epochs done, to the step (a bar that moves within an epoch), and the losses."""
    epochs, steps = report["epochs"], report["total_steps"]
    done = round(epochs * report["step"] / steps, 3) if steps else 0
    losses = TrainingLosses(epoch=report["epoch"], latest=report["losses"], history=report["history"])
    ctx.report("training", done, epochs, "epochs", losses)
