"""What the service asks the workers for, as job records: the job graph of each request, built here
so the HTTP handlers only check the request and report the result.

- training one model: one ``train`` job;
- training an ensemble: one ``train`` job per member under an ``ensemble`` group job, which ends
  when its members have (see ``worker.state.records``);
- predicting with a model: one ``predict`` job;
- predicting with an ensemble: one ``predict`` job per member under a ``smooth`` job (the EKS),
  queued once they all succeed;
- active selection: one ``predict`` job per model (one, or each member) under a ``select_frames``
  job, queued once they all succeed;
- pre-annotations of Label Studio tasks' images: one ``preannotate`` job.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from worker.state import records
from worker.state.db.models import Ensemble, Job, Model
from worker.state.layout import model_prefix
from worker.state.queue import JobQueue


def start_training(
    session: Session,
    queue: JobQueue,
    *,
    project_id: int,
    user_id: int,
    configs: dict[str, dict],
    max_attempts: int,
    ensemble: Ensemble | None = None,
    start_models: dict[str, Model] | None = None,
) -> list[Model]:
    """Record one model and its training job per ``{name: checked train settings}`` (an ensemble's
    under one group job), commit, then enqueue; ``start_models`` names the model whose weights each
    one starts from (fine-tuning). A name already taken raises IntegrityError with nothing
    recorded."""
    start_models = start_models or {}
    parent = None
    models = []
    try:
        if ensemble is not None:
            session.add(ensemble)
            session.flush()
            parent = records.new_job(
                session, project_id, user_id, "ensemble", {"ensemble_id": ensemble.id}, max_attempts
            )
            ensemble.train_job_id = parent.id
        for name, config in configs.items():
            model = Model(
                project_id=project_id,
                name=name,
                train_config=config,
                ensemble=ensemble,
                start_model=start_models.get(name),
            )
            session.add(model)
            session.flush()
            model.storage_prefix = model_prefix(project_id, model.id)
            job = records.new_job(
                session, project_id, user_id, "train", {"model_id": model.id}, max_attempts, parent
            )
            model.train_job_id = job.id
            models.append(model)
        session.commit()
    except Exception:
        session.rollback()
        raise
    for model in models:
        records.send(session, model.train_job, queue)
    return models


def start_prediction(
    session: Session,
    queue: JobQueue,
    *,
    project_id: int,
    user_id: int,
    video_id: int,
    models: list[Model],
    ensemble_id: int | None,
    s: float | None,
    max_attempts: int,
    labeled_video: bool = False,
    runtime: str,
) -> Job:
    """Predict a video with one model (one job), or with an ensemble's members under a smoothing
    job; returns the job to watch. ``labeled_video``: the one model's job, or the smoothing job
    (the EKS), also draws the predictions on a copy of the video; ``runtime`` runs the network
    (``core.predict.runtime``) in every prediction job."""
    params = {"video_id": video_id, "labeled_video": labeled_video, "runtime": runtime}
    if ensemble_id is None:
        (model,) = models
        job = records.new_job(
            session, project_id, user_id, "predict", {**params, "model_id": model.id}, max_attempts
        )
        records.send(session, job, queue)
        return job
    parent = records.new_job(
        session, project_id, user_id, "smooth", {**params, "ensemble_id": ensemble_id, "s": s}, max_attempts
    )
    return _after_predictions(session, queue, parent, video_id, models, max_attempts)


def start_selection(
    session: Session,
    queue: JobQueue,
    *,
    project_id: int,
    user_id: int,
    video_id: int,
    models: list[Model],
    name: str,
    n: int,
    max_attempts: int,
) -> Job:
    """Active selection: a ``select_frames`` job (pick ``n`` frames, extract them, pre-annotations
    marked ``name``) waiting for one prediction job of the video per model (one, or each member)."""
    params = {"video_id": video_id, "n": n, "model_version": name}
    parent = records.new_job(session, project_id, user_id, "select_frames", params, max_attempts)
    return _after_predictions(session, queue, parent, video_id, models, max_attempts)


def start_preannotation(
    session: Session,
    queue: JobQueue,
    *,
    project_id: int,
    user_id: int,
    models: list[Model],
    name: str,
    images: list[str],
    max_attempts: int,
) -> Job:
    """One ``preannotate`` job: ``images`` predicted by a model or an ensemble's members, marked ``name``."""
    params = {"model_ids": [m.id for m in models], "model_version": name, "images": images}
    job = records.new_job(session, project_id, user_id, "preannotate", params, max_attempts)
    records.send(session, job, queue)
    return job


def _after_predictions(
    session: Session, queue: JobQueue, parent: Job, video_id: int, models: list[Model], max_attempts: int
) -> Job:
    """Children of ``parent`` predicting the video with each model, sent now; the parent is queued
    when they have all succeeded (``worker.state.records``). Returns the parent."""
    children = [
        records.new_job(
            session,
            parent.project_id,
            parent.user_id,
            "predict",
            {"video_id": video_id, "model_id": m.id, "runtime": parent.params.get("runtime", "torch")},
            max_attempts,
            parent,
        )
        for m in models
    ]
    session.commit()
    for child in children:
        records.send(session, child, queue)
    session.refresh(parent)
    return parent


def start_fiftyone_build(
    session: Session, queue: JobQueue, *, project_id: int, user_id: int, params: dict, max_attempts: int
) -> Job:
    """One ``fiftyone`` job: (re)build the project's comparison datasets with ``params``' models and
    prediction jobs."""
    job = records.new_job(session, project_id, user_id, "fiftyone", params, max_attempts)
    records.send(session, job, queue)
    return job
