"""Comparing models in FiftyOne: build a project's comparison datasets (a worker job), the links to
open them, and the proxy through which alone browsers reach the user's own FiftyOne server of the
project (``app.fiftyone.proxy``), ``/media`` served from storage."""

from __future__ import annotations

import json
import mimetypes
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.api.deps import (
    BrowserProjectDep,
    BrowserUserDep,
    ProjectDep,
    QueueDep,
    SessionDep,
    SettingsDep,
    StorageDep,
    UserDep,
)
from app.api.routes.jobs import get_job, to_out
from app.api.routes.models import get_ensemble, get_model
from app.api.schemas import JobOut
from app.api.stored_files import stored_file
from app.fiftyone.mongo import MongoDown
from app.fiftyone.proxy import (
    CHECKED_BODIES,
    DROPPED_REQUEST_HEADERS,
    DROPPED_RESPONSE_HEADERS,
    MAX_BODY_BYTES,
    PAGES,
    PREFIX,
    check,
    media_key,
    without_upsell,
)
from app.fiftyone.servers import FiftyOneDown, FiftyOneServers
from app.proxying import Refused, forward, read_body, request_path
from worker.fiftyone.plan import RESULT_FILE
from worker.state import submit
from worker.state.db.models import Job, Project

router = APIRouter(tags=["fiftyone"])


def get_fiftyone(request: Request) -> FiftyOneServers:
    servers = request.app.state.fiftyone
    if servers is None:
        raise HTTPException(
            503,
            "FiftyOne is not part of this server: start posecloud with `posecloud up` (which starts MongoDB), "
            "or set POSECLOUD_MONGO_PORT to the port of the MongoDB that posecloud started",
        )
    return servers


FiftyOneDep = Annotated[FiftyOneServers, Depends(get_fiftyone)]


class ComparisonCreate(BaseModel):
    model_ids: list[int] = Field(
        default_factory=list, description="models whose labeled-frame predictions to show"
    )
    ensemble_ids: list[int] = Field(default_factory=list, description="ensembles whose members to show")
    prediction_job_ids: list[int] = Field(
        default_factory=list,
        description="succeeded predict (one model) or smooth (ensemble) jobs: their videos",
    )


@router.post("/projects/{project_id}/fiftyone/build", status_code=201, response_model=JobOut)
def build(
    body: ComparisonCreate,
    project: ProjectDep,
    user: UserDep,
    session: SessionDep,
    queue: QueueDep,
    settings: SettingsDep,
    fiftyone: FiftyOneDep,
) -> JobOut:
    """(Re)build the project's comparison datasets with exactly the chosen models and predictions."""
    models = [get_model(project, i, session) for i in body.model_ids]
    models += [m for i in body.ensemble_ids for m in get_ensemble(project, i, session).members]
    models = list({m.id: m for m in models}.values())
    jobs = [get_job(project, i, session) for i in body.prediction_job_ids]
    if not models and not jobs:
        raise HTTPException(422, "choose at least one model, ensemble or prediction job to compare")
    untrained = [m.name for m in models if m.summary is None]
    if untrained:
        raise HTTPException(
            409, f"models {untrained} have not finished training; compare them once they have"
        )
    wrong = [j.id for j in jobs if j.kind not in ("predict", "smooth") or j.parent_id is not None]
    if wrong:
        raise HTTPException(
            422, f"jobs {wrong} are not video predictions; give the id of a predict or smooth job"
        )
    unfinished = [j.id for j in jobs if j.state != "succeeded"]
    if unfinished:
        raise HTTPException(
            409, f"prediction jobs {unfinished} have not succeeded; compare them once they have"
        )
    try:
        fiftyone.mongo.ensure_project_user(project.id)
    except MongoDown as e:
        raise HTTPException(503, str(e)) from None
    params = {"model_ids": [m.id for m in models], "ensemble_ids": body.ensemble_ids,
              "prediction_job_ids": body.prediction_job_ids}  # fmt: skip
    job = submit.start_fiftyone_build(
        session,
        queue,
        project_id=project.id,
        user_id=user.id,
        params=params,
        max_attempts=settings.max_attempts,
    )
    return to_out(job)


def page_url(project_id: int, slug: str, view: str | None = None) -> str:
    url = f"{PREFIX}/{project_id}/datasets/{slug}?proxy={PREFIX}/{project_id}"
    return url + (f"&view={view}" if view else "")


@router.get("/projects/{project_id}/fiftyone")
def comparison(project: ProjectDep, session: SessionDep, storage: StorageDep, _fiftyone: FiftyOneDep) -> dict:
    """The latest comparison: the page to open (the labeled frames), and each dataset's page and
    saved views (each split, worst frames and low confidence per model)."""
    latest = session.scalar(
        select(Job)
        .where(Job.project_id == project.id, Job.kind == "fiftyone", Job.state == "succeeded")
        .order_by(Job.id.desc())
    )
    if latest is None:
        raise HTTPException(
            404, f"project {project.id} has no comparison yet; build one with POST fiftyone/build"
        )
    made = json.loads(b"".join(storage.iter_bytes(latest.artifacts[RESULT_FILE])))["datasets"]
    datasets = [
        {
            "name": d["name"],
            "media_type": d["media_type"],
            "url": page_url(project.id, d["slug"]),
            "views": [
                {"name": v["name"], "url": page_url(project.id, d["slug"], v["slug"])} for v in d["views"]
            ],
        }
        for d in made
    ]
    return {"url": datasets[0]["url"], "job_id": latest.id, "params": latest.params, "datasets": datasets}


@router.api_route(
    PREFIX + "/{project_id}/{path:path}",
    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    include_in_schema=False,
)
async def proxy(
    request: Request,
    project: BrowserProjectDep,
    user: BrowserUserDep,
    storage: StorageDep,
    fiftyone: FiftyOneDep,
) -> Response:
    """The user's own FiftyOne server of the project (started on demand); only what ``check`` opens."""
    prefix = f"{PREFIX}/{project.id}"
    try:
        # /fiftyone/<project>/<rest>: the rest of the canonical path is what FiftyOne is asked for
        target = "/" + request_path(request.scope).split("/", 3)[3]
        if target == "/media":
            return await run_in_threadpool(_media, request, project, storage)
        check(request.method, target)
        body = None
        if target in CHECKED_BODIES:
            body = await read_body(request, MAX_BODY_BYTES)
            CHECKED_BODIES[target](body)
    except Refused as e:
        return JSONResponse({"detail": e.detail}, status_code=e.status)
    if request.method == "GET" and PAGES.fullmatch(target) and "proxy" not in request.query_params:
        # the App puts the ?proxy= of its page's URL before every request it makes
        query = "&".join(filter(None, [str(request.url.query), f"proxy={prefix}"]))
        return RedirectResponse(f"{prefix}{target}?{query}", status_code=307)
    try:
        server = await run_in_threadpool(fiftyone.server, user.id, project.id)
    except (FiftyOneDown, MongoDown) as e:
        return JSONResponse({"detail": str(e)}, status_code=503)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED_REQUEST_HEADERS}
    if body is None and "content-length" in request.headers:  # streamed on; no chunked bodies for GETs
        body = request.stream()
    return await forward(
        server.url,
        request.method,
        target,
        list(request.query_params.multi_items()),
        headers,
        body,
        DROPPED_RESPONSE_HEADERS,
        lambda e: f"the FiftyOne server stopped answering ({type(e).__name__}); reload the page",
        read_timeout_s=None,  # /events streams for as long as the page is open
        location_prefix=prefix,
        rewrite=without_upsell if request.method == "GET" and PAGES.fullmatch(target) else None,
    )


def _media(request: Request, project: Project, storage) -> Response:
    """A frame or video of the project, from storage (ranges too, for seeking in videos)."""
    if request.method not in ("GET", "HEAD"):
        raise Refused(403, "media are read-only")
    videos = {k for v in project.videos for k in (v.storage_key, v.transcoded_key) if k}
    key = media_key(request.query_params.get("filepath"), project.id, videos)
    if not storage.exists(key):
        raise Refused(404, "no such media in this project")
    media = mimetypes.guess_type(key)[0] or "application/octet-stream"
    return stored_file(request, storage, key, media, headers={"Cache-Control": "private"})
