"""Models, ensembles and predictions: each request records what to do and enqueues the jobs.

Training an ensemble makes one job per member, which run in parallel on the free worker slots.
Predicting with an ensemble makes one prediction job per member and a smoothing job (EKS) that
waits for them.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.api.deps import ProjectDep, QueueDep, SessionDep, SettingsDep, UserDep
from app.api.routes.jobs import to_out
from app.api.routes.videos import get_video
from app.api.schemas import EnsembleCreate, EnsembleOut, JobOut, ModelCreate, ModelOut, PredictionCreate
from app.db.models import Ensemble, Model, Project, User
from app.settings import Settings
from core.config import TrainConfig, parse_config
from worker import records
from worker.layout import model_prefix
from worker.queue import JobQueue

router = APIRouter(prefix="/projects/{project_id}", tags=["models"])


def model_out(model: Model) -> ModelOut:
    return ModelOut(
        id=model.id,
        name=model.name,
        ensemble_id=model.ensemble_id,
        train_config=model.train_config,
        state=model.train_job.state if model.train_job else "unknown",
        train_job_id=model.train_job_id,
        summary=model.summary,
        created_at=model.created_at,
    )


def ensemble_out(ensemble: Ensemble) -> EnsembleOut:
    members = [model_out(m) for m in ensemble.members]
    return EnsembleOut(id=ensemble.id, name=ensemble.name, members=members, created_at=ensemble.created_at)


def _train_models(
    session: Session,
    queue: JobQueue,
    settings: Settings,
    project: Project,
    user: User,
    configs: dict[str, dict],
    ensemble: Ensemble | None = None,
) -> list[Model]:
    """Record one model and one training job per ``{name: train settings}``, then enqueue the jobs."""
    checked = {
        name: parse_config(TrainConfig, config, "train").model_dump(mode="json")
        for name, config in configs.items()
    }
    models = []
    try:
        for name, config in checked.items():
            model = Model(project_id=project.id, name=name, train_config=config, ensemble=ensemble)
            session.add(model)
            session.flush()
            model.storage_prefix = model_prefix(project.id, model.id)
            job = records.new_job(
                session, project.id, user.id, "train", {"model_id": model.id}, settings.max_attempts
            )
            model.train_job_id = job.id
            models.append(model)
        session.commit()
    except IntegrityError:
        session.rollback()
        raise HTTPException(
            409, f"project {project.id} already has a model or ensemble with that name"
        ) from None
    for model in models:
        records.send(session, model.train_job, queue)
    return models


@router.post("/models", status_code=201, response_model=ModelOut)
def train_model(
    body: ModelCreate,
    project: ProjectDep,
    user: UserDep,
    session: SessionDep,
    queue: QueueDep,
    settings: SettingsDep,
) -> ModelOut:
    """Train one model on the project's labels (a training job; watch it under jobs)."""
    (model,) = _train_models(session, queue, settings, project, user, {body.name: body.train})
    return model_out(model)


@router.get("/models", response_model=list[ModelOut])
def list_models(project: ProjectDep, session: SessionDep) -> list[ModelOut]:
    return [
        model_out(m)
        for m in session.scalars(select(Model).where(Model.project_id == project.id).order_by(Model.id))
    ]


def get_model(project: Project, model_id: int, session: Session) -> Model:
    model = session.get(Model, model_id)
    if model is None or model.project_id != project.id:
        raise HTTPException(
            404, f"model {model_id} not found in project {project.id}; list them with GET models"
        )
    return model


@router.get("/models/{model_id}", response_model=ModelOut)
def read_model(project: ProjectDep, model_id: int, session: SessionDep) -> ModelOut:
    return model_out(get_model(project, model_id, session))


@router.post("/ensembles", status_code=201, response_model=EnsembleOut)
def train_ensemble(
    body: EnsembleCreate,
    project: ProjectDep,
    user: UserDep,
    session: SessionDep,
    queue: QueueDep,
    settings: SettingsDep,
) -> EnsembleOut:
    """Train one member per seed; the members train in parallel on the free worker slots."""
    if len(set(body.seeds)) != len(body.seeds):
        raise HTTPException(422, f"seeds must be distinct, got {body.seeds}")
    ensemble = Ensemble(project_id=project.id, name=body.name)
    session.add(ensemble)
    configs = {f"{body.name}-seed{seed}": {**body.train, "seed": seed} for seed in body.seeds}
    _train_models(session, queue, settings, project, user, configs, ensemble)
    session.refresh(ensemble)
    return ensemble_out(ensemble)


@router.get("/ensembles", response_model=list[EnsembleOut])
def list_ensembles(project: ProjectDep, session: SessionDep) -> list[EnsembleOut]:
    query = select(Ensemble).where(Ensemble.project_id == project.id).order_by(Ensemble.id)
    return [ensemble_out(e) for e in session.scalars(query)]


def get_ensemble(project: Project, ensemble_id: int, session: Session) -> Ensemble:
    ensemble = session.get(Ensemble, ensemble_id)
    if ensemble is None or ensemble.project_id != project.id:
        raise HTTPException(
            404, f"ensemble {ensemble_id} not found in project {project.id}; list them with GET ensembles"
        )
    return ensemble


@router.get("/ensembles/{ensemble_id}", response_model=EnsembleOut)
def read_ensemble(project: ProjectDep, ensemble_id: int, session: SessionDep) -> EnsembleOut:
    return ensemble_out(get_ensemble(project, ensemble_id, session))


@router.post("/predictions", status_code=201, response_model=JobOut)
def predict(
    body: PredictionCreate,
    project: ProjectDep,
    user: UserDep,
    session: SessionDep,
    queue: QueueDep,
    settings: SettingsDep,
) -> JobOut:
    """Predict a video. With a model: one job whose artifact is predictions.csv. With an ensemble: a
    smoothing job (artifact eks.csv) whose children predict with each member in parallel. With
    separate cameras every view's video of the video's session is predicted (predictions_<view>.csv,
    eks_<view>.csv: the views smoothed together)."""
    if (body.model_id is None) == (body.ensemble_id is None):
        raise HTTPException(422, "give exactly one of model_id or ensemble_id")
    video = get_video(project, body.video_id, session)
    if body.model_id is not None:
        models = [get_model(project, body.model_id, session)]
    else:
        models = get_ensemble(project, body.ensemble_id, session).members
    untrained = [m.name for m in models if m.summary is None]
    if untrained:
        raise HTTPException(
            409, f"models {untrained} have not finished training; predict once their training jobs succeed"
        )
    params = {"video_id": video.id}
    if body.model_id is not None:
        job = records.new_job(
            session,
            project.id,
            user.id,
            "predict",
            {**params, "model_id": models[0].id},
            settings.max_attempts,
        )
        records.send(session, job, queue)
        return to_out(job)
    parent = records.new_job(
        session,
        project.id,
        user.id,
        "smooth",
        {**params, "ensemble_id": body.ensemble_id, "s": body.s},
        settings.max_attempts,
    )
    children = [
        records.new_job(
            session,
            project.id,
            user.id,
            "predict",
            {**params, "model_id": m.id},
            settings.max_attempts,
            parent,
        )
        for m in models
    ]
    session.commit()
    for child in children:
        records.send(session, child, queue)
    session.refresh(parent)
    return to_out(parent)


@router.get("/train-config-schema", tags=["models"])
def train_config_schema(project: ProjectDep) -> dict:
    """JSON schema of the training settings (``train`` in model and ensemble requests)."""
    return TrainConfig.model_json_schema()
