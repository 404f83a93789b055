"""Videos: streamed upload (size-limited, probed with ffprobe), list, metadata, download."""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session

from app.api.deps import (
    BrowserProjectDep,
    ProjectDep,
    QueueDep,
    SessionDep,
    SettingsDep,
    StorageDep,
    UploadProjectDep,
    UploadUserDep,
    UserDep,
)
from app.api.routes.jobs import to_out
from app.api.schemas import FrameExtraction, JobOut, VideoOut
from app.api.stored_files import stored_file
from app.filenames import extension, safe_filename
from app.probe import probe_video
from app.uploads import check_declared_size, receive_to_file
from core.data.cameras import camera_session
from worker.jobs.project_data import session_videos
from worker.state import records
from worker.state.db.models import Project, Video
from worker.state.layout import project_prefix
from worker.state.queue import JobQueue
from worker.state.storage import Storage

router = APIRouter(prefix="/projects/{project_id}/videos", tags=["videos"])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "the raw video file as the request body (not a multipart form)",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def _store_video(tmp: Path, filename: str, project: Project, session: Session, storage: Storage) -> Video:
    """Probe the received file, move it into storage under a generated id and record it."""
    info = probe_video(tmp, filename)
    size = tmp.stat().st_size
    key = f"{project_prefix(project.id)}/videos/{uuid.uuid4().hex}{extension(filename)}"
    storage.put_file(tmp, key)
    video = Video(
        project_id=project.id,
        filename=filename,
        storage_key=key,
        size_bytes=size,
        fps=info.fps,
        frames=info.frames,
        width=info.width,
        height=info.height,
        codec=info.codec,
    )
    session.add(video)
    try:
        session.commit()
    except BaseException:
        storage.delete(key)
        raise
    return video


def check_camera_video(project: Project, name: str) -> None:
    """Separate cameras: a video's name must hold one view as a word (which camera), and no other
    video of the project may be that view of the same session."""
    session = camera_session(Path(name).stem, project.views)
    if session is None:
        raise HTTPException(
            422,
            f"{name}: with separate cameras a video's name holds its view as a word, exactly one of "
            f"{', '.join(project.views)} (e.g. session1_{project.views[0]}.mp4); rename the file and upload again",
        )
    for other in project.videos:
        if camera_session(Path(other.filename).stem, project.views) == session:
            raise HTTPException(
                409,
                f"video {other.id} ({other.filename}) is already the {session[1]} view of session "
                f"{session[0]!r}; rename the file to give this recording another session name",
            )


def require_whole_session(video: Video) -> None:
    """Separate cameras: a 409 unless every view's video of ``video``'s session is uploaded (what
    scores a session's frames predicts every view)."""
    missing = [view for view in video.project.views if view not in session_videos(video)]
    if missing:
        raise HTTPException(
            409,
            f"{video.filename}: its session has no {' or '.join(missing)} video yet; upload the "
            f"{' and '.join(missing)} camera's recording of it, then try again",
        )


@router.post("", status_code=201, response_model=VideoOut, openapi_extra=_UPLOAD_BODY)
async def upload_video(
    request: Request,
    project: UploadProjectDep,
    filename: Annotated[str, Query(min_length=1, max_length=1000, description="the file's name (sanitised)")],
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    user: UploadUserDep,
    queue: QueueDep,
) -> Video:
    """Upload a video as the raw request body; it is streamed to disk, then validated with ffprobe.
    Browsers (the front end's uploader) may use the session cookie with ``X-Posecloud-Upload: 1``.

    413 when larger than the limit, 400 when empty, 422 when it is not a readable video. The original
    is kept; a transcode job makes a constant-frame-rate, all-keyframe H.264 copy for exact seeking.
    """
    check_declared_size(request.headers.get("content-length"), settings.upload_limit)
    name = safe_filename(filename, fallback="video")
    if len(project.views) > 1:
        check_camera_video(project, name)
    tmp = settings.upload_tmp_dir / f"{uuid.uuid4().hex}.part"
    await receive_to_file(request.stream(), tmp, settings.upload_limit)
    try:
        return await run_in_threadpool(
            add_video, tmp, name, project, session, storage, queue, user.id, settings.max_attempts
        )
    finally:
        tmp.unlink(missing_ok=True)


def video_adder(
    project: Project, session: Session, storage: Storage, queue: JobQueue, user_id: int, max_attempts: int
) -> Callable[[Path, str], Video]:
    """``add_video`` for this project and user: what a labels upload calls for the videos it brings."""
    return partial(
        add_video, project=project, session=session, storage=storage, queue=queue, user_id=user_id,
        max_attempts=max_attempts,
    )  # fmt: skip


def add_video(
    tmp: Path,
    name: str,
    project: Project,
    session: Session,
    storage: Storage,
    queue: JobQueue,
    user_id: int,
    max_attempts: int,
) -> Video:
    """A received video file (probed, then moved into storage) recorded in the project, and the job
    that transcodes it queued."""
    video = _store_video(tmp, name, project, session, storage)
    job = records.new_job(session, project.id, user_id, "transcode", {"video_id": video.id}, max_attempts)
    records.send(session, job, queue)
    return video


@router.get("", response_model=list[VideoOut])
def list_videos(project: ProjectDep) -> list[Video]:
    return list(project.videos)


def get_video(project: Project, video_id: int, session: Session) -> Video:
    video = session.get(Video, video_id)
    if video is None or video.project_id != project.id:
        detail = f"video {video_id} not found in project {project.id}; list them with GET videos"
        raise HTTPException(404, detail)
    return video


@router.get("/{video_id}", response_model=VideoOut)
def read_video(project: ProjectDep, video_id: int, session: SessionDep) -> Video:
    return get_video(project, video_id, session)


@router.get("/{video_id}/file", response_class=FileResponse)
@router.head("/{video_id}/file", include_in_schema=False)
def download_video(
    request: Request, project: BrowserProjectDep, video_id: int, session: SessionDep, storage: StorageDep
) -> Response:
    """The original uploaded file (also to the signed-in browser: the front end plays it); byte
    ranges are served (seeking), from S3 too without reading the rest."""
    video = get_video(project, video_id, session)
    media_type = mimetypes.guess_type(video.filename)[0] or "application/octet-stream"
    return stored_file(request, storage, video.storage_key, media_type, filename=video.filename)


@router.post("/{video_id}/extract-frames", status_code=201, response_model=JobOut)
def extract_frames(
    project: ProjectDep,
    video_id: int,
    body: FrameExtraction,
    session: SessionDep,
    settings: SettingsDep,
    user: UserDep,
    queue: QueueDep,
) -> JobOut:
    """Save frames to label, with their context frames, into the project's labeled-data/ (a job)."""
    video = get_video(project, video_id, session)
    if (body.n is None) == (body.frames is None):
        raise HTTPException(422, "give exactly one of n (frames to pick) or frames (frame numbers)")
    outside = [f for f in body.frames or [] if not 0 <= f < video.frames]
    if outside:
        raise HTTPException(
            422, f"frames {outside[:5]} are outside the video (frames 0 to {video.frames - 1})"
        )
    if body.n is not None and body.n > video.frames:
        raise HTTPException(422, f"the video has {video.frames} frames; ask for at most that many")
    params = {"video_id": video.id, **body.model_dump(exclude_none=True)}
    job = records.new_job(session, project.id, user.id, "extract_frames", params, settings.max_attempts)
    records.send(session, job, queue)
    return to_out(job)
