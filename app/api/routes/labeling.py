"""Labeling in Label Studio: open a project's labeling page, sync now, labeling progress,
pre-annotations from a model and active selection of frames (jobs); the
frames served to the labeler (with the project's access check); Label Studio's webhooks; and the
proxy through which alone browsers reach Label Studio (``app.labelstudio.proxy``)."""

from __future__ import annotations

import hmac
import json
import logging
import mimetypes
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.deps import (
    BrowserProjectDep,
    BrowserUserDep,
    ProjectDep,
    QueueDep,
    SessionDep,
    SettingsDep,
    StorageDep,
    UserDep,
    accessible_projects,
)
from app.api.routes.jobs import to_out
from app.api.routes.models import chosen_models, require_trained
from app.api.routes.videos import get_video, require_whole_session
from app.api.schemas import JobOut, PreannotationCreate, SelectionCreate
from app.labelstudio.accounts import LabelStudioDown
from app.labelstudio.labels import SHOWN_AGAIN, view_images
from app.labelstudio.projects import LabelStudio
from app.labelstudio.proxy import (
    ASSETS,
    DROPPED_REQUEST_HEADERS,
    DROPPED_RESPONSE_HEADERS,
    MAX_BODY_BYTES,
    PREFIX,
    READ,
    access_for,
    check,
    check_body,
    check_id,
)
from app.labelstudio.rechecks import aliased_image
from app.proxying import Refused, forward, read_body, request_path
from worker.state import submit
from worker.state.db.models import LabelStudioProject, LabelStudioTask, Project
from worker.state.layout import data_prefix

log = logging.getLogger(__name__)
router = APIRouter(tags=["labeling"])


def get_labelstudio(request: Request) -> LabelStudio:
    ls = request.app.state.labelstudio
    if ls is None:
        raise HTTPException(
            503,
            "Label Studio is not part of this server: start posecloud with `posecloud up` (which starts it), "
            "or set POSECLOUD_LABELSTUDIO_PORT to the port of a Label Studio that posecloud started",
        )
    return ls


LabelStudioDep = Annotated[LabelStudio, Depends(get_labelstudio)]


def down(e: LabelStudioDown) -> HTTPException:
    return HTTPException(503, str(e))


def require_labelstudio(session: Session, project: Project, ls: LabelStudio) -> None:
    """A 503 unless Label Studio answers with posecloud's labeling interface on the project's page
    (made if missing): frames are not picked for a labeling page that is not there."""
    try:
        ls.check_config(session, project)
    except LabelStudioDown as e:
        raise down(e) from None


@router.post("/projects/{project_id}/labeling")
def open_labeling(project: ProjectDep, user: UserDep, session: SessionDep, ls: LabelStudioDep) -> dict:
    """Make sure the project and the caller have their Label Studio side (tasks for every labeled or
    picked frame, the labeling interface as posecloud sets it), and return the page to open."""
    try:
        ls.accounts.account(session, user)
        record = ls.ensure_project(session, project)
        made = ls.sync_tasks(session, project)
        config = ls.check_config(session, project)
    except LabelStudioDown as e:
        raise down(e) from None
    return {
        "url": f"{PREFIX}/projects/{record.ls_project_id}/data",
        "ls_project_id": record.ls_project_id,
        "tasks_made": len(made),
        "config": config,
    }


@router.post("/projects/{project_id}/labeling/sync")
def sync_now(project: ProjectDep, session: SessionDep, ls: LabelStudioDep) -> dict:
    """Catch up now: new frames become tasks, finished jobs' pre-annotations go onto their tasks,
    the interface is put back if edited, and the label files are rewritten from Label Studio's
    annotations."""
    if session.get(LabelStudioProject, project.id) is None:
        raise HTTPException(409, f"project {project.id} has no labeling page yet; open it with POST labeling")
    try:
        made = ls.sync_tasks(session, project)
        pushed = ls.push_predictions(session, project)
        config = ls.check_config(session, project)
        counts = ls.reconcile(session, project)
    except LabelStudioDown as e:
        raise down(e) from None
    return {"tasks_made": len(made), "predictions_made": pushed, "config": config, **counts}


@router.post("/projects/{project_id}/labeling/preannotate", status_code=201, response_model=JobOut)
def preannotate(
    body: PreannotationCreate,
    project: ProjectDep,
    user: UserDep,
    session: SessionDep,
    queue: QueueDep,
    settings: SettingsDep,
    ls: LabelStudioDep,
) -> JobOut:
    """Model-assisted labeling: every task's frames predicted by a model or an ensemble (a job);
    once it succeeds, the next sync puts the keypoints on the tasks as predictions marked with the
    model's or ensemble's name."""
    models, name = chosen_models(project, body.model_id, body.ensemble_id, session)
    # Label Studio must answer (nothing is queued while it is down), with posecloud's labeling
    # interface (which it checks the predictions against)
    try:
        ls.sync_tasks(session, project)
        ls.check_config(session, project)
    except LabelStudioDown as e:
        raise down(e) from None
    tasks = session.scalars(
        select(LabelStudioTask)
        .where(LabelStudioTask.project_id == project.id, LabelStudioTask.deleted_at.is_(None))
        .order_by(LabelStudioTask.ls_task_id)
    ).all()
    if not tasks:
        raise HTTPException(
            409,
            f"project {project.id} has no frames to label yet: extract frames from a video "
            "(POST videos/{id}/extract-frames or labeling/select) or upload labels, then pre-annotate",
        )
    require_trained(models)
    job = submit.start_preannotation(
        session,
        queue,
        project_id=project.id,
        user_id=user.id,
        models=models,
        name=name,
        images=[image for task in tasks for image in view_images(project, task.image).values()],
        max_attempts=settings.max_attempts,
    )
    return to_out(job)


@router.post("/projects/{project_id}/labeling/select", status_code=201, response_model=JobOut)
def select_frames(
    body: SelectionCreate,
    project: ProjectDep,
    user: UserDep,
    session: SessionDep,
    queue: QueueDep,
    settings: SettingsDep,
    ls: LabelStudioDep,
) -> JobOut:
    """Active selection: a video predicted by a model or an ensemble's members (jobs), the ``n``
    frames with the worst outlier scores (ensemble spread, temporal norm, Pose PCA error,
    confidence) extracted with their context, and, at the next sync, tasks for them carrying the
    model's (the ensemble's EKS) keypoints as predictions."""
    models, name = chosen_models(project, body.model_id, body.ensemble_id, session)
    video = get_video(project, body.video_id, session)
    require_trained(models)
    require_whole_session(video)
    if body.n > video.frames:
        raise HTTPException(422, f"the video has {video.frames} frames; ask for at most that many")
    require_labelstudio(session, project, ls)
    job = submit.start_selection(
        session,
        queue,
        project_id=project.id,
        user_id=user.id,
        video_id=video.id,
        models=models,
        name=name,
        n=body.n,
        max_attempts=settings.max_attempts,
    )
    return to_out(job)


@router.get("/projects/{project_id}/labeling/progress")
def labeling_progress(project: ProjectDep, session: SessionDep, ls: LabelStudioDep) -> dict:
    """Frames to label (tasks), frames labeled, and per keypoint how many frames have it."""
    return ls.progress(session, project)


@router.get("/projects/{project_id}/labeling/tasks")
def labeling_tasks(project: ProjectDep, session: SessionDep) -> dict:
    """The project's labeling page (``url``, None until it is prepared with POST labeling) and each
    frame to label (its label-file row name; ``rows``: the moment's row in each view's file) with its
    Label Studio task and the page that opens that frame for labeling."""
    record = session.get(LabelStudioProject, project.id)
    if record is None:
        return {"url": None, "tasks": []}
    tasks = session.scalars(
        select(LabelStudioTask)
        .where(LabelStudioTask.project_id == project.id, LabelStudioTask.deleted_at.is_(None))
        .order_by(LabelStudioTask.image)
    )
    page = f"{PREFIX}/projects/{record.ls_project_id}/data"
    return {
        "url": page,
        "tasks": [
            {
                "image": t.image,
                "rows": view_images(project, t.image),
                "task_id": t.ls_task_id,
                "url": f"{page}?task={t.ls_task_id}",
            }
            for t in tasks
        ],
    }


@router.get("/projects/{project_id}/frames/{image:path}")
def frame(project: BrowserProjectDep, image: str, storage: StorageDep, session: SessionDep) -> Response:
    """A labeled-data image of the project (what the labeler sees), for its owner and members; a
    re-shown frame's image by its alias (``app.labelstudio.rechecks``)."""
    if image.startswith(f"{SHOWN_AGAIN}/"):
        image = aliased_image(session, project, image) or ""
    if not image.startswith("labeled-data/"):
        raise HTTPException(404, "only labeled-data/ images are served here")
    try:
        key = f"{data_prefix(project.id)}/{image}"
        exists = storage.exists(key)
    except ValueError:  # '..', absolute or empty parts
        raise HTTPException(404, "no such frame") from None
    if not exists:
        raise HTTPException(404, f"project {project.id} has no frame {image}")
    media = mimetypes.guess_type(image)[0] or "application/octet-stream"
    return StreamingResponse(storage.iter_bytes(key), media_type=media, headers={"Cache-Control": "private"})


@router.post("/labelstudio-hooks/{project_id}", include_in_schema=False)
async def webhook(
    project_id: int,
    request: Request,
    session: SessionDep,
    ls: LabelStudioDep,
    secret: Annotated[str | None, Header(alias="X-Posecloud-Hook")] = None,
) -> dict:
    """Label Studio's webhook: an annotation's change reaches the label file at once; deletions
    (which name no task) reconcile the project."""
    record = session.get(LabelStudioProject, project_id)
    if record is None or secret is None or not hmac.compare_digest(secret, record.hook_secret):
        raise HTTPException(404, "no such hook")
    try:
        payload = json.loads(await read_body(request, MAX_BODY_BYTES))
    except Refused as e:
        raise HTTPException(e.status, e.detail) from None
    except ValueError:
        raise HTTPException(400, "a Label Studio webhook sends JSON") from None
    project = session.get(Project, project_id)
    action = payload.get("action")
    if action in ("ANNOTATION_CREATED", "ANNOTATION_UPDATED"):
        applied = await run_in_threadpool(
            ls.apply_annotation, session, project, payload.get("annotation") or {}
        )
        return {"applied": applied}
    if action in ("ANNOTATIONS_DELETED", "TASKS_DELETED"):
        return await run_in_threadpool(ls.reconcile, session, project)
    return {"ignored": action}


def _project_users(request: Request, user, session: Session, ls: LabelStudio) -> JSONResponse:
    """``GET /api/users?project=`` (the data manager's annotator list): the Label Studio users of the
    posecloud project's owner and members, not everyone Label Studio knows."""
    access, _ = _access(session, user, ls)
    try:
        if request.method not in READ:
            raise Refused(403, "users are made by posecloud")
        if "project" not in request.query_params:
            raise Refused(403, "the user list is open only with ?project=<id> of one of your projects")
        ls_project = check_id(request.query_params["project"], "?project=")
        access.owned("project", ls_project)
    except Refused as e:
        return JSONResponse({"detail": e.detail}, status_code=e.status)
    project = session.get(Project, access.projects[ls_project])
    return JSONResponse(ls.project_users(session, project))


def _access(session: Session, user, ls: LabelStudio):
    account = ls.accounts.account(session, user)
    visible = list(session.scalars(accessible_projects(user)))
    return access_for(session, visible, user, account.ls_user_id, ls.owner_of), account


@router.api_route(
    PREFIX + "/{path:path}",
    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    include_in_schema=False,
)
@router.get(ASSETS[0] + "{path:path}", include_in_schema=False)
@router.get(ASSETS[1] + "{path:path}", include_in_schema=False)
async def proxy(request: Request, user: BrowserUserDep, session: SessionDep, ls: LabelStudioDep):
    """Label Studio for the signed-in user, as their own Label Studio user, their projects only;
    also Label Studio's assets that its stylesheets and scripts name without the /labelstudio
    prefix (fonts, worker scripts), where only static files pass."""
    try:
        path = request_path(request.scope)
        target = path[len(PREFIX) :] if path.startswith(PREFIX + "/") else path
        if target in ("/api/users", "/api/users/"):
            return await run_in_threadpool(_project_users, request, user, session, ls)
        access, _ = await run_in_threadpool(_access, session, user, ls)
        query = list(request.query_params.multi_items())
        named = await run_in_threadpool(check, request.method, target, query, access)
        body = None
        if request.method not in READ:  # a write: its body is read whole (bounded) and checked
            body = await read_body(request, MAX_BODY_BYTES)
            content_type = request.headers.get("content-type", "")
            named = await run_in_threadpool(check_body, body, content_type, named, access)
            access.may_write(named)
        token = await run_in_threadpool(ls.accounts.access_token, session, user)
    except Refused as e:
        log.info("refused for %s: %s %s (%s)", user.username, request.method, request.url, e.detail)
        return JSONResponse({"detail": e.detail}, status_code=e.status)
    except LabelStudioDown as e:
        return JSONResponse({"detail": str(e)}, status_code=503)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED_REQUEST_HEADERS}
    headers["Authorization"] = f"Bearer {token}"
    return await forward(
        ls.server.url,
        request.method,
        target,
        query,
        headers,
        body,
        DROPPED_RESPONSE_HEADERS,
        lambda e: str(LabelStudioDown.because(e)),
    )
