"""Results to look at: a model's scores on its labeled frames, a prediction's trajectories and
metrics, its labeled video (for the browser's video player) and a video's frame."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import cv2
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from app import results
from app.api.deps import BrowserProjectDep, ProjectDep, SessionDep, StorageDep
from app.api.routes.jobs import get_job
from app.api.routes.models import get_model
from app.api.routes.videos import get_video
from app.api.schemas import LabeledFrameScores, Traces
from app.api.stored_files import stored_file
from core.video.reader import read_frame
from worker.state.db.models import Ensemble, Job, Model, Project

router = APIRouter(prefix="/projects/{project_id}", tags=["results"])
PREDICTION_KINDS = ("predict", "smooth")
FRAME_READ_BLOCK = 64 * 1024
"""Bytes a frame's decoder fetches from remote storage at least per read that misses its cache."""


@router.get("/models/{model_id}/labeled-frames", response_model=LabeledFrameScores)
def labeled_frame_scores(
    project: ProjectDep, model_id: int, session: SessionDep, storage: StorageDep
) -> LabeledFrameScores:
    """The model's predictions of the labeled frames scored against the labels, per image and
    keypoint: split, pixel error, confidence, PCA errors (for box plots, model-vs-model scatters)."""
    model = get_model(project, model_id, session)
    if model.summary is None:
        raise HTTPException(409, f"model {model.name!r} has not finished training; its scores come with it")
    keypoints, columns = results.labeled_frame_scores(storage, model.storage_prefix, project.views)
    return LabeledFrameScores(model_id=model.id, model=model.name, keypoints=keypoints, columns=columns)


def prediction_job(project: Project, job_id: int, session: Session) -> Job:
    """A prediction job that succeeded (404 for another kind of job, 409 while it has not)."""
    job = get_job(project, job_id, session)
    if job.kind not in PREDICTION_KINDS:
        raise HTTPException(
            404,
            f"job {job_id} is a {job.kind} job, not a prediction; choose one of the project's predictions",
        )
    if job.state != "succeeded":
        raise HTTPException(409, f"prediction job {job_id} is {job.state}; its results come once it succeeds")
    return job


def _name(session: Session, table: type[Model | Ensemble], row_id: int, what: str) -> str:
    row = session.get(table, row_id)
    return row.name if row is not None else f"{what} {row_id} (deleted)"


def _sources(session: Session, job: Job, stem: str, members: bool) -> list[results.Source]:
    if job.kind == "predict":
        return [results.Source(_name(session, Model, job.params["model_id"], "model"), job.artifacts, stem)]
    ensemble = _name(session, Ensemble, job.params["ensemble_id"], "ensemble")
    eks = [results.Source(f"{ensemble} (EKS)", job.artifacts, f"{stem}.eks")]
    if not members:
        return eks
    return eks + [
        results.Source(_name(session, Model, c.params["model_id"], "model"), c.artifacts, stem)
        for c in job.children
    ]


@router.get("/jobs/{job_id}/traces", response_model=Traces)
def prediction_traces(
    project: ProjectDep,
    job_id: int,
    session: SessionDep,
    storage: StorageDep,
    keypoints: Annotated[list[str] | None, Query(description="only these keypoints (default: all)")] = None,
    start: Annotated[int | None, Query(ge=0, description="first frame")] = None,
    stop: Annotated[int | None, Query(ge=1, description="frame after the last")] = None,
    members: Annotated[bool, Query(description="an ensemble's: each member's trajectories too")] = False,
) -> Traces:
    """A prediction job's trajectories per frame and keypoint: x, y, likelihood, metrics (temporal
    norm, PCA errors) and, for an ensemble's EKS, the variances (the job's own video; with separate
    cameras the video it was asked for)."""
    job = prediction_job(project, job_id, session)
    unknown = sorted(set(keypoints or []) - set(project.keypoints))
    if unknown:
        raise HTTPException(422, f"unknown keypoints {unknown}; the project's are {project.keypoints}")
    video = get_video(project, job.params["video_id"], session)
    frames = None if start is None and stop is None else (start or 0, stop or video.frames)
    stem = Path(video.filename).stem
    chosen, columns = results.traces(storage, _sources(session, job, stem, members), keypoints, frames)
    return Traces(job_id=job.id, video=video.filename, keypoints=chosen, columns=columns)


@router.get("/jobs/{job_id}/labeled-video")
@router.head("/jobs/{job_id}/labeled-video", include_in_schema=False)
def labeled_video(
    request: Request, project: BrowserProjectDep, job_id: int, session: SessionDep, storage: StorageDep
) -> Response:
    """The prediction drawn on the video (H.264, yuv420p), for the browser's player: the session
    cookie is enough, and byte ranges are served (seeking)."""
    job = prediction_job(project, job_id, session)
    video = get_video(project, job.params["video_id"], session)
    name = f"{Path(video.filename).stem}.labeled.mp4"
    key = job.artifacts.get(name)
    if key is None:
        raise HTTPException(
            404, f"prediction job {job_id} drew no labeled video; predict again with labeled_video: true"
        )
    return stored_file(request, storage, key, "video/mp4")


@router.get("/videos/{video_id}/frames/{index}", response_class=Response)
def video_frame(
    project: ProjectDep, video_id: int, index: int, session: SessionDep, storage: StorageDep
) -> Response:
    """Frame ``index`` (from 0) of a video as a PNG image. The decoder reads the video where it
    seeks, in blocks of FRAME_READ_BLOCK bytes: from S3 the container's index and the packets from
    the keyframe before the frame on (one packet in the transcoded, all-keyframe copy), not the
    whole video."""
    video = get_video(project, video_id, session)
    if not 0 <= index < video.frames:
        raise HTTPException(
            422, f"{video.filename} has frames 0 to {video.frames - 1}; frame {index} is not one"
        )
    with storage.open(video.transcoded_key or video.storage_key, block_size=FRAME_READ_BLOCK) as file:
        image = read_frame(file, index)
    return Response(
        cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes(), media_type="image/png"
    )
