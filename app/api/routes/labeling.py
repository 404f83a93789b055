"""Labeling in Label Studio: open a project's labeling page, sync now, labeling progress; the
frames served to the labeler (with the project's access check); Label Studio's webhooks; and the
proxy through which alone browsers reach Label Studio (``app.labelstudio.proxy``)."""

from __future__ import annotations

import hmac
import mimetypes
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from app.api.deps import (
    BrowserProjectDep,
    BrowserUserDep,
    ProjectDep,
    SessionDep,
    StorageDep,
    UserDep,
    accessible_projects,
)
from app.labelstudio.accounts import LabelStudioDown
from app.labelstudio.projects import LabelStudio
from app.labelstudio.proxy import (
    DROPPED_REQUEST_HEADERS,
    DROPPED_RESPONSE_HEADERS,
    PREFIX,
    Refused,
    access_for,
    check,
)
from worker.db.models import LabelStudioProject, Project
from worker.layout import data_prefix

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


def _down(e: LabelStudioDown) -> HTTPException:
    return HTTPException(503, str(e))


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
        raise _down(e) from None
    return {
        "url": f"{PREFIX}/projects/{record.ls_project_id}/data",
        "ls_project_id": record.ls_project_id,
        "tasks_made": len(made),
        "config": config,
    }


@router.post("/projects/{project_id}/labeling/sync")
def sync_now(project: ProjectDep, session: SessionDep, ls: LabelStudioDep) -> dict:
    """Catch up now: new frames become tasks, the interface is put back if edited, and the label
    files are rewritten from Label Studio's annotations."""
    if session.get(LabelStudioProject, project.id) is None:
        raise HTTPException(409, f"project {project.id} has no labeling page yet; open it with POST labeling")
    try:
        made = ls.sync_tasks(session, project)
        config = ls.check_config(session, project)
        counts = ls.reconcile(session, project)
    except LabelStudioDown as e:
        raise _down(e) from None
    return {"tasks_made": len(made), "config": config, **counts}


@router.get("/projects/{project_id}/labeling/progress")
def labeling_progress(project: ProjectDep, session: SessionDep, ls: LabelStudioDep) -> dict:
    """Frames to label (tasks), frames labeled, and per keypoint how many frames have it."""
    return ls.progress(session, project)


@router.get("/projects/{project_id}/frames/{image:path}")
def frame(project: BrowserProjectDep, image: str, storage: StorageDep) -> Response:
    """A labeled-data image of the project (what the labeler sees), for its owner and members."""
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
    payload = await request.json()
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
        if request.method != "GET":
            raise Refused(403, "users are made by posecloud")
        ls_project = int(request.query_params.get("project", ""))
        access.project(ls_project)
    except ValueError:
        return JSONResponse(
            {"detail": "the user list is open only with ?project=<id> of one of your projects"}, 403
        )
    except Refused as e:
        return JSONResponse({"detail": e.detail}, status_code=e.status)
    project = session.get(Project, access.projects[ls_project])
    return JSONResponse(ls.project_users(session, project))


def _access(session: Session, user, ls: LabelStudio):
    account = ls.accounts.account(session, user)
    visible = list(session.scalars(accessible_projects(user)))
    return access_for(session, visible, account.ls_user_id, ls.owner_of), account


@router.api_route(
    PREFIX + "/{path:path}",
    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    include_in_schema=False,
)
async def proxy(path: str, request: Request, user: BrowserUserDep, session: SessionDep, ls: LabelStudioDep):
    """Label Studio for the signed-in user, as their own Label Studio user, their projects only."""
    return await _forward("/" + path, request, user, session, ls)


@router.get("/static/{path:path}", include_in_schema=False)
@router.get("/react-app/{path:path}", include_in_schema=False)
async def unprefixed_assets(request: Request, user: BrowserUserDep, session: SessionDep, ls: LabelStudioDep):
    """Label Studio's assets that its stylesheets and scripts name without the /labelstudio prefix
    (fonts, worker scripts); only static files pass here."""
    return await _forward(request.url.path, request, user, session, ls)


async def _forward(target: str, request: Request, user, session: Session, ls: LabelStudio):
    if target == "/api/users" or target == "/api/users/":
        return await run_in_threadpool(_project_users, request, user, session, ls)
    try:
        access, _ = await run_in_threadpool(_access, session, user, ls)
        await run_in_threadpool(check, request.method, target, dict(request.query_params), access)
        token = await run_in_threadpool(ls.accounts.access_token, session, user)
    except Refused as e:
        return JSONResponse({"detail": e.detail}, status_code=e.status)
    except LabelStudioDown as e:
        return JSONResponse({"detail": str(e)}, status_code=503)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED_REQUEST_HEADERS}
    headers["Authorization"] = f"Bearer {token}"
    # A body streams on with its Content-Length; Label Studio's server reads no chunked bodies, so a
    # request without a length (GET, or a chunked upload: buffered) must not become chunked.
    body = request.stream() if "content-length" in request.headers else (await request.body() or None)
    client = httpx.AsyncClient(base_url=ls.server.url, timeout=httpx.Timeout(60, read=300))
    upstream = client.build_request(
        request.method, target, params=request.query_params, headers=headers, content=body
    )
    try:
        resp = await client.send(upstream, stream=True)
    except httpx.TransportError as e:
        await client.aclose()
        return JSONResponse({"detail": str(LabelStudioDown.because(e))}, status_code=503)
    out_headers = {k: v for k, v in resp.headers.items() if k.lower() not in DROPPED_RESPONSE_HEADERS}

    async def close() -> None:
        await resp.aclose()
        await client.aclose()

    return StreamingResponse(
        resp.aiter_raw(), status_code=resp.status_code, headers=out_headers, background=BackgroundTask(close)
    )
