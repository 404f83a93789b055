"""Models, ensembles and predictions: each request records what to do and enqueues the jobs.

Training an ensemble makes one job per member, which run in parallel on the free worker slots.
Predicting with an ensemble makes one prediction job per member and a smoothing job (EKS) that
waits for them.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.api.deps import ProjectDep, QueueDep, SessionDep, SettingsDep, StorageDep, UserDep
from app.api.routes.jobs import to_out
from app.api.routes.videos import get_video
from app.api.schemas import (
    EnsembleCreate,
    EnsembleOut,
    JobOut,
    ModelCreate,
    ModelOut,
    PredictionCreate,
    Rename,
)
from app.settings import Settings
from core.config import TrainConfig, parse_config
from worker.state import records, submit
from worker.state.db.models import Ensemble, Job, Model, Project, User
from worker.state.queue import JobQueue
from worker.state.records import ACTIVE
from worker.state.storage import Storage

router = APIRouter(prefix="/projects/{project_id}", tags=["models"])
LABELED_VIDEO_FRAMES = (
    18_000  # a prediction draws a labeled video unasked up to this length (10 min at 30 fps)
)


def model_out(model: Model) -> ModelOut:
    return ModelOut(
        id=model.id,
        name=model.name,
        ensemble_id=model.ensemble_id,
        train_config=model.train_config,
        state=model.train_job.state if model.train_job else "unknown",
        train_job_id=model.train_job_id,
        summary=model.summary,
        label_version=model.label_version.number if model.label_version else None,
        started_from=model.start_model.name if model.start_model else None,
        created_at=model.created_at,
    )


def ensemble_out(ensemble: Ensemble) -> EnsembleOut:
    members = [model_out(m) for m in ensemble.members]
    state = records.job_state(ensemble.train_job) if ensemble.train_job else "unknown"
    return EnsembleOut(
        id=ensemble.id,
        name=ensemble.name,
        state=state,
        train_job_id=ensemble.train_job_id,
        members=members,
        created_at=ensemble.created_at,
    )


PRETRAINED_CHOICES = ("imagenet", "none")


def _no_server_paths(train: TrainConfig) -> TrainConfig:
    """Settings that name files on the workers' machine are the command line's: through the API a
    user could make a worker read another project's files (a weights file, a video)."""
    if train.pretrained not in PRETRAINED_CHOICES:
        raise HTTPException(
            422,
            f"train.pretrained: choose one of {list(PRETRAINED_CHOICES)}; a weights file on the server can "
            "be named only from the command line (posecloud train)",
        )
    if train.init_from:
        raise HTTPException(
            422,
            "train.init_from: leave it out; to fine-tune, name the model to start from with start_from_model "
            "(or start_from_ensemble)",
        )
    if train.unlabeled_videos:
        raise HTTPException(
            422,
            "train.unlabeled_videos: leave it out; the app trains on all of the project's uploaded videos "
            "(naming files on the server is for the command line)",
        )
    return train


def _train_models(
    session: Session,
    queue: JobQueue,
    settings: Settings,
    project: Project,
    user: User,
    configs: dict[str, dict],
    ensemble: Ensemble | None = None,
    start_models: dict[str, Model] | None = None,
) -> list[Model]:
    """Check each ``{name: train settings}`` (and the model each starts from, if any), then record
    and enqueue the trainings (worker.state.submit)."""
    checked = {
        name: _no_server_paths(parse_config(TrainConfig, config, "train")).model_dump(mode="json")
        for name, config in configs.items()
    }
    for name, start in (start_models or {}).items():
        _check_start_model(start, checked[name])
    try:
        return submit.start_training(
            session,
            queue,
            project_id=project.id,
            user_id=user.id,
            configs=checked,
            max_attempts=settings.max_attempts,
            ensemble=ensemble,
            start_models=start_models,
        )
    except IntegrityError:
        raise HTTPException(
            409, f"project {project.id} already has a model or ensemble with that name"
        ) from None


def _check_start_model(start: Model, train: dict) -> None:
    """A 422 unless ``start`` can start a training with settings ``train`` (fine-tuning)."""
    if start.summary is None:
        raise HTTPException(
            422, f"model {start.name!r} has not finished training; fine-tune from it once it has"
        )
    for setting in ("model_type", "backbone"):
        theirs = parse_config(TrainConfig, start.train_config, "train").model_dump()[setting]
        if train[setting] != theirs:
            raise HTTPException(
                422,
                f"train.{setting}: {train[setting]!r}, but {start.name!r} is a {theirs!r} model; fine-tuning "
                f"keeps the network: use {theirs!r} or train from scratch",
            )


def _settings_of(start: Model | None, asked: dict) -> dict:
    """A fine-tuning's settings: those of the model it starts from, changed by the ones asked."""
    return {**start.train_config, **asked} if start is not None else asked


def _project_model(session: Session, project: Project, model_id: int) -> Model:
    model = session.get(Model, model_id)
    if model is None or model.project_id != project.id:
        raise HTTPException(404, f"project {project.id} has no model {model_id}")
    return model


@router.post("/models", status_code=201, response_model=ModelOut)
def train_model(
    body: ModelCreate,
    project: ProjectDep,
    user: UserDep,
    session: SessionDep,
    queue: QueueDep,
    settings: SettingsDep,
) -> ModelOut:
    """Train one model on the project's labels (a training job; watch it under jobs), from scratch
    or starting from a trained model's weights (``start_from_model``)."""
    start = {}
    if body.start_from_model is not None:
        start[body.name] = _project_model(session, project, body.start_from_model)
    configs = {body.name: _settings_of(start.get(body.name), body.train)}
    (model,) = _train_models(session, queue, settings, project, user, configs, None, start)
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
            404, f"model {model_id} not found in project {project.id}; choose one of the project's models"
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
    names = [f"{body.name}-seed{seed}" for seed in body.seeds]
    start = {}
    if body.start_from_ensemble is not None:
        members = _members_by_seed(session, project, body.start_from_ensemble, body.seeds)
        start = dict(zip(names, members, strict=True))
    configs = {
        name: {**_settings_of(start.get(name), body.train), "seed": seed}
        for name, seed in zip(names, body.seeds, strict=True)
    }
    ensemble = Ensemble(project_id=project.id, name=body.name)
    _train_models(session, queue, settings, project, user, configs, ensemble, start)
    session.refresh(ensemble)
    return ensemble_out(ensemble)


def _members_by_seed(session: Session, project: Project, ensemble_id: int, seeds: list[int]) -> list[Model]:
    """The members of ensemble ``ensemble_id`` with ``seeds``, in that order (a 404 or 422 otherwise)."""
    ensemble = session.get(Ensemble, ensemble_id)
    if ensemble is None or ensemble.project_id != project.id:
        raise HTTPException(404, f"project {project.id} has no ensemble {ensemble_id}")
    by_seed = {parse_config(TrainConfig, m.train_config, "train").seed: m for m in ensemble.members}
    missing = [seed for seed in seeds if seed not in by_seed]
    if missing:
        raise HTTPException(
            422,
            f"ensemble {ensemble.name!r} has members with seeds {sorted(by_seed)}, none with {missing}; "
            "fine-tune with those seeds, so that each member starts from its own",
        )
    return [by_seed[seed] for seed in seeds]


@router.get("/ensembles", response_model=list[EnsembleOut])
def list_ensembles(project: ProjectDep, session: SessionDep) -> list[EnsembleOut]:
    query = select(Ensemble).where(Ensemble.project_id == project.id).order_by(Ensemble.id)
    return [ensemble_out(e) for e in session.scalars(query)]


def get_ensemble(project: Project, ensemble_id: int, session: Session) -> Ensemble:
    ensemble = session.get(Ensemble, ensemble_id)
    if ensemble is None or ensemble.project_id != project.id:
        raise HTTPException(
            404,
            f"ensemble {ensemble_id} not found in project {project.id}; choose one of the project's ensembles",
        )
    return ensemble


@router.get("/ensembles/{ensemble_id}", response_model=EnsembleOut)
def read_ensemble(project: ProjectDep, ensemble_id: int, session: SessionDep) -> EnsembleOut:
    return ensemble_out(get_ensemble(project, ensemble_id, session))


def _rename(session: Session, row: Model | Ensemble, name: str, what: str) -> None:
    row.name = name
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise HTTPException(
            409, f"the project already has {what} named {name!r}; choose another name"
        ) from None


@router.patch("/models/{model_id}", response_model=ModelOut)
def rename_model(project: ProjectDep, model_id: int, body: Rename, session: SessionDep) -> ModelOut:
    model = get_model(project, model_id, session)
    _rename(session, model, body.name, "a model")
    return model_out(model)


@router.patch("/ensembles/{ensemble_id}", response_model=EnsembleOut)
def rename_ensemble(project: ProjectDep, ensemble_id: int, body: Rename, session: SessionDep) -> EnsembleOut:
    ensemble = get_ensemble(project, ensemble_id, session)
    _rename(session, ensemble, body.name, "an ensemble")
    return ensemble_out(ensemble)


def _require_unused(
    session: Session, project: Project, models: list[Model], ensemble: Ensemble | None
) -> None:
    """409 while a waiting, queued or running job trains or uses ``models`` (or ``ensemble``)."""
    model_ids = {m.id for m in models}
    train_jobs = {m.train_job_id for m in models} | {ensemble.train_job_id if ensemble else None}
    ensemble_ids = {ensemble.id} if ensemble else set()
    active = select(Job).where(Job.project_id == project.id, Job.state.in_(ACTIVE)).order_by(Job.id)
    for job in session.scalars(active):
        used = {job.params.get("model_id"), *job.params.get("model_ids", [])} & model_ids or {
            job.params.get("ensemble_id"),
            *job.params.get("ensemble_ids", []),
        } & ensemble_ids
        if job.id in train_jobs or used:
            raise HTTPException(
                409,
                f"job {job.id} ({job.kind}, {job.state}) uses it; cancel job {job.id} or wait for it to end, "
                "then delete",
            )


def _delete(session: Session, storage: Storage, models: list[Model], ensemble: Ensemble | None) -> Response:
    """Delete the models, their files and their training records (an ensemble's group job too); the
    predictions made with them stay, as jobs of the project."""
    jobs = [m.train_job for m in models] + [ensemble.train_job if ensemble else None]
    for row in [*models, ensemble, *jobs]:
        if row is not None:
            session.delete(row)
    session.commit()
    for model in models:
        storage.delete(model.storage_prefix)
    return Response(status_code=204)


@router.delete("/models/{model_id}", status_code=204)
def delete_model(project: ProjectDep, model_id: int, session: SessionDep, storage: StorageDep) -> Response:
    """Delete a model that no job is using (an ensemble's member goes with its ensemble)."""
    model = get_model(project, model_id, session)
    if model.ensemble is not None:
        raise HTTPException(
            409,
            f"model {model.name!r} is a member of ensemble {model.ensemble.name!r}; delete the ensemble "
            "instead, which deletes its members",
        )
    _require_unused(session, project, [model], None)
    return _delete(session, storage, [model], None)


@router.delete("/ensembles/{ensemble_id}", status_code=204)
def delete_ensemble(
    project: ProjectDep, ensemble_id: int, session: SessionDep, storage: StorageDep
) -> Response:
    """Delete an ensemble and its members, when no job is using them."""
    ensemble = get_ensemble(project, ensemble_id, session)
    members = list(ensemble.members)
    _require_unused(session, project, members, ensemble)
    return _delete(session, storage, members, ensemble)


def chosen_models(
    project: Project, model_id: int | None, ensemble_id: int | None, session: Session
) -> tuple[list[Model], str]:
    """The model, or the ensemble's members, that a request names, and the model's or ensemble's
    name: 422 unless it names exactly one, 404 for an unknown one."""
    if (model_id is None) == (ensemble_id is None):
        raise HTTPException(422, "give exactly one of model_id or ensemble_id")
    if model_id is not None:
        model = get_model(project, model_id, session)
        models, name = [model], model.name
    else:
        ensemble = get_ensemble(project, ensemble_id, session)
        models, name = ensemble.members, ensemble.name
    return models, name


def require_trained(models: list[Model]) -> None:
    untrained = [m.name for m in models if m.summary is None]
    if untrained:
        raise HTTPException(
            409, f"models {untrained} have not finished training; use them once their training jobs succeed"
        )


@router.post("/predictions", status_code=201, response_model=JobOut)
def predict(
    body: PredictionCreate,
    project: ProjectDep,
    user: UserDep,
    session: SessionDep,
    queue: QueueDep,
    settings: SettingsDep,
) -> JobOut:
    """Predict a video. With a model: one job whose artifacts are ``<video>.csv`` and its metric CSVs.
    With an ensemble: a smoothing job (``<video>.eks.csv``) whose children predict with each member in
    parallel. With separate cameras every view's video of the session is predicted (one CSV per
    view's video; an ensemble's views smoothed together)."""
    models, _ = chosen_models(project, body.model_id, body.ensemble_id, session)
    video = get_video(project, body.video_id, session)
    require_trained(models)
    job = submit.start_prediction(
        session,
        queue,
        project_id=project.id,
        user_id=user.id,
        video_id=video.id,
        models=models,
        ensemble_id=body.ensemble_id,
        s=body.s,
        max_attempts=settings.max_attempts,
        labeled_video=video.frames <= LABELED_VIDEO_FRAMES
        if body.labeled_video is None
        else body.labeled_video,
        runtime=body.runtime,
    )
    return to_out(job)


@router.get("/train-config-schema", tags=["models"])
def train_config_schema(project: ProjectDep) -> dict:
    """JSON schema of the training settings (``train`` in model and ensemble requests)."""
    return TrainConfig.model_json_schema()
