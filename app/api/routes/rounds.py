"""A project's labeling rounds (``app.rounds``): started, listed with their frames, labeling
progress and results, and trained."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.deps import ProjectDep, QueueDep, SessionDep, SettingsDep, StorageDep, UserDep
from app.api.routes.label_versions import NumberInPath
from app.api.routes.labeling import LabelStudioDep, require_labelstudio
from app.api.routes.models import chosen_models, require_trained, train_ensemble, train_model
from app.api.routes.videos import get_video, require_whole_session
from app.api.schemas import (
    EnsembleCreate,
    ModelCreate,
    RoundCreate,
    RoundFrame,
    RoundOut,
    RoundsOut,
    RoundTraining,
)
from app.rounds import (
    RoundStatus,
    labeled_images,
    one_per_session,
    round_status,
    shorter_schedule,
    start_round,
    stop_hint,
)
from core.config import TrainConfig, parse_config
from worker.state.db.models import Ensemble, LabelingRound, Model, Project
from worker.state.storage import Storage

router = APIRouter(prefix="/projects/{project_id}/rounds", tags=["rounds"])


@router.post("", status_code=201, response_model=RoundOut)
def create_round(
    body: RoundCreate,
    project: ProjectDep,
    user: UserDep,
    session: SessionDep,
    queue: QueueDep,
    settings: SettingsDep,
    storage: StorageDep,
    ls: LabelStudioDep,
) -> RoundOut:
    """Start the next round: its frames are mined from the videos (jobs) and become Label Studio
    tasks, with the start's keypoints as pre-annotations, at the next sync."""
    models, name, ensemble = _start(session, project, body)
    videos = [get_video(project, v, session) for v in body.video_ids or []] or list(project.videos)
    if not videos:
        raise HTTPException(409, f"project {project.id} has no videos to mine; upload one on the Videos page")
    videos = one_per_session(videos)
    if models:
        require_trained(models)
        for video in videos:
            require_whole_session(video)
    require_labelstudio(session, project, ls)  # nothing is queued while Label Studio is down
    labeling_round = start_round(
        session,
        queue,
        project=project,
        user_id=user.id,
        videos=videos,
        budget=body.budget,
        start_models=models,
        start_name=name,
        start_ensemble=ensemble,
        max_attempts=settings.max_attempts,
    )
    return _round_out(session, storage, project, labeling_round)


def _start(
    session: Session, project: Project, body: RoundCreate
) -> tuple[list[Model], str | None, Ensemble | None]:
    """The models a round starts from, their name and ensemble: those the body names, else the
    previous round's training (a 409 while it has none), else none (the first round)."""
    if body.model_id is not None or body.ensemble_id is not None:
        models, name = chosen_models(project, body.model_id, body.ensemble_id, session)
        return models, name, models[0].ensemble if body.ensemble_id is not None else None
    last = _rounds(session, project)[-1:]
    if not last:
        return [], None, None
    previous = last[0]
    if previous.trained_ensemble is not None:
        return (
            list(previous.trained_ensemble.members),
            previous.trained_ensemble.name,
            previous.trained_ensemble,
        )
    if previous.trained_model is not None:
        return [previous.trained_model], previous.trained_model.name, None
    raise HTTPException(
        409,
        f"round {previous.number} has not trained yet: train it (POST rounds/{previous.number}/train) so the "
        "next round mines where its model fails, or name the model_id or ensemble_id to start from",
    )


@router.get("", response_model=RoundsOut)
def list_rounds(project: ProjectDep, session: SessionDep, storage: StorageDep) -> RoundsOut:
    """Every round, first first, and whether another is likely to help (``stop_hint``)."""
    rounds = _rounds(session, project)
    labeled = labeled_images(storage, project)  # the label file, read once for every round
    statuses = [(r.number, round_status(session, storage, project, r, labeled)) for r in rounds]
    return RoundsOut(
        rounds=[
            _round_out(session, storage, project, r, status)
            for r, (_, status) in zip(rounds, statuses, strict=True)
        ],
        stop_hint=stop_hint(statuses),
    )


@router.get("/{number}", response_model=RoundOut)
def read_round(
    project: ProjectDep, number: NumberInPath, session: SessionDep, storage: StorageDep
) -> RoundOut:
    return _round_out(session, storage, project, _round(session, project, number))


@router.post("/{number}/train", status_code=201, response_model=RoundOut)
def train_round(
    body: RoundTraining,
    project: ProjectDep,
    number: NumberInPath,
    user: UserDep,
    session: SessionDep,
    queue: QueueDep,
    settings: SettingsDep,
    storage: StorageDep,
) -> RoundOut:
    """Train on the labels once the round's frames are labeled: fine-tune from the round's start
    (each ensemble member from the member with its seed) with half the epochs, or from scratch
    with the start's settings; a first round trains an ensemble with ``seeds`` from scratch."""
    labeling_round = _round(session, project, number)
    status = round_status(session, storage, project, labeling_round)
    if status.state != "ready to train":
        left = len(status.picks) - status.labeled_count
        why = (
            f"{left} of its {len(status.picks)} frames are not labeled yet"
            if status.state == "labeling"
            else ""
        )
        raise HTTPException(
            409,
            f"round {number} is {status.state}{': ' + why if why else ''}; it trains once "
            "every frame it picked is labeled",
        )
    name = body.name or f"round-{number}"
    start = labeling_round.start_ensemble or labeling_round.start_model
    settings_of_start = _start_settings(labeling_round)
    fine_tune = body.fine_tune and start is not None
    train = {**settings_of_start, **(shorter_schedule(settings_of_start) if fine_tune else {}), **body.train}
    if labeling_round.start_model is not None:
        model = train_model(
            ModelCreate(
                name=name, train=train, start_from_model=labeling_round.start_model_id if fine_tune else None
            ),
            project,
            user,
            session,
            queue,
            settings,
        )
        labeling_round.trained_model = session.get(Model, model.id)
    else:
        seeds = _start_seeds(labeling_round) or body.seeds
        ensemble = train_ensemble(
            EnsembleCreate(
                name=name,
                seeds=seeds,
                train=train,
                start_from_ensemble=labeling_round.start_ensemble_id if fine_tune else None,
            ),
            project,
            user,
            session,
            queue,
            settings,
        )
        labeling_round.trained_ensemble = session.get(Ensemble, ensemble.id)
    session.commit()
    return _round_out(session, storage, project, labeling_round)


def _start_settings(labeling_round: LabelingRound) -> dict:
    """The training settings of the round's start (its first member's, less the seed); none for a first round."""
    models = list(labeling_round.start_ensemble.members) if labeling_round.start_ensemble else []
    models = models or ([labeling_round.start_model] if labeling_round.start_model else [])
    if not models:
        return {}
    return {k: v for k, v in models[0].train_config.items() if k not in ("seed", "init_from")}


def _start_seeds(labeling_round: LabelingRound) -> list[int]:
    if labeling_round.start_ensemble is None:
        return []
    return [
        parse_config(TrainConfig, m.train_config, "train").seed for m in labeling_round.start_ensemble.members
    ]


def _rounds(session: Session, project: Project) -> list[LabelingRound]:
    return list(
        session.scalars(
            select(LabelingRound).where(LabelingRound.project_id == project.id).order_by(LabelingRound.number)
        )
    )


def _round(session: Session, project: Project, number: int) -> LabelingRound:
    found = session.scalar(
        select(LabelingRound).where(LabelingRound.project_id == project.id, LabelingRound.number == number)
    )
    if found is None:
        raise HTTPException(
            404, f"project {project.id} has no labeling round {number}; see GET rounds for its rounds"
        )
    return found


def _round_out(
    session: Session,
    storage: Storage,
    project: Project,
    labeling_round: LabelingRound,
    status: RoundStatus | None = None,
) -> RoundOut:
    status = status or round_status(session, storage, project, labeling_round)
    start = labeling_round.start_ensemble or labeling_round.start_model
    trained = labeling_round.trained_ensemble or labeling_round.trained_model
    videos = {v.id: v.filename for v in project.videos}
    return RoundOut(
        number=labeling_round.number,
        state=status.state,
        started_from=start.name if start else None,
        videos=[videos[v] for v in labeling_round.video_ids if v in videos],
        budget=labeling_round.budget,
        frames=[
            RoundFrame(
                image=p.image, frame=p.frame, reasons=[r for r in p.reasons.split(";") if r], labeled=done
            )
            for p, done in zip(status.picks, status.labeled, strict=True)
        ],
        labeled=status.labeled_count,
        spread_px=status.spread,
        trained=trained.name if trained else None,
        fine_tuned=(
            any(m.start_model_id is not None for m in status.trained_models)
            if status.trained_models
            else None
        ),
        labeled_frames=status.labeled_frames,
        test_px_error=status.test_error,
        created_at=labeling_round.created_at,
    )
