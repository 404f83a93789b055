"""Jobs: list, watch (state, progress, log tail), cancel, retry, download artifacts."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.deps import ProjectDep, QueueDep, SessionDep, StorageDep
from app.api.schemas import JobMember, JobOut, JobSummary
from worker.state import records
from worker.state.db.models import Job, Project, utcnow

router = APIRouter(prefix="/projects/{project_id}/jobs", tags=["jobs"])


def get_job(project: Project, job_id: int, session: Session) -> Job:
    job = session.get(Job, job_id)
    if job is None or job.project_id != project.id:
        raise HTTPException(404, f"job {job_id} not found in project {project.id}; list them with GET jobs")
    return job


@router.get("", response_model=list[JobSummary])
def list_jobs(
    project: ProjectDep,
    session: SessionDep,
    state: Annotated[str | None, Query(description="only jobs in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """The project's jobs, newest first (GET one job for its log tail)."""
    columns = Job.__table__.c
    where = [columns.project_id == project.id] + ([columns.state == state] if state else [])
    summaries = [to_out(job, JobSummary) for job in listed_jobs(session, where, limit)]
    # serialized here: FastAPI would validate the summaries against the response model once more
    return Response(_SUMMARIES.dump_json(summaries), media_type="application/json")


_SUMMARIES = TypeAdapter(list[JobSummary])
_LISTED = [column for name, column in Job.__table__.columns.items() if name not in ("log_tail", "history")]


def listed_jobs(session: Session, where: list, limit: int) -> list[SimpleNamespace]:
    """The jobs matching ``where``, newest first, each with its ``children`` (members), theirs too,
    as plain rows without the log and history: the list the pages poll every 2 s from every open
    dashboard, read through the ORM cost several times as much."""
    jobs_table = Job.__table__
    connection = session.connection()
    listed = select(jobs_table.c.id).where(*where).order_by(jobs_table.c.id.desc()).limit(limit)
    query = select(*_LISTED).where(*where).order_by(jobs_table.c.id.desc()).limit(limit)
    jobs = [SimpleNamespace(**row._mapping, children=[]) for row in connection.execute(query)]
    parents = {job.id: job for job in jobs}
    while parents:
        # the parents as a subquery: their ids bound as parameters cost more than the query itself
        members = select(*_LISTED).where(jobs_table.c.parent_id.in_(listed)).order_by(jobs_table.c.id)
        found = {}
        for row in connection.execute(members):
            member = found[row.id] = SimpleNamespace(**row._mapping, children=[])
            parents[member.parent_id].children.append(member)
        parents = found
        listed = select(jobs_table.c.id).where(jobs_table.c.parent_id.in_(listed))
    return jobs


@router.get("/{job_id}", response_model=JobOut)
def read_job(project: ProjectDep, job_id: int, session: SessionDep) -> JobOut:
    return to_out(get_job(project, job_id, session))


@router.post("/{job_id}/cancel", response_model=JobOut)
def cancel_job(project: ProjectDep, job_id: int, session: SessionDep) -> JobOut:
    """Cancel a waiting, queued or running job (a running one stops at its next progress report)."""
    job = get_job(project, job_id, session)
    try:
        records.cancel(session, job)
    except records.JobStateError as e:
        raise HTTPException(409, str(e)) from None
    return to_out(job)


@router.post("/{job_id}/retry", response_model=JobOut)
def retry_job(project: ProjectDep, job_id: int, session: SessionDep, queue: QueueDep) -> JobOut:
    """Run a failed or cancelled job again; a training resumes from its last checkpoint."""
    job = get_job(project, job_id, session)
    try:
        records.retry(session, job, queue)
    except records.JobStateError as e:
        raise HTTPException(409, str(e)) from None
    return to_out(job)


@router.get("/{job_id}/artifacts/{name}")
def download_artifact(
    project: ProjectDep, job_id: int, name: str, session: SessionDep, storage: StorageDep
) -> Response:
    """A file the job produced (e.g. predictions.csv, eks.csv), by the name listed in ``artifacts``."""
    job = get_job(project, job_id, session)
    key = job.artifacts.get(name)
    if key is None:
        listed = sorted(job.artifacts) or "none yet"
        raise HTTPException(404, f"job {job_id} has no artifact {name!r}; it has: {listed}")
    local = storage.local_path(key)
    if local is not None:
        return FileResponse(local, filename=name)
    headers = {
        "Content-Length": str(storage.size(key)),
        "Content-Disposition": f'attachment; filename="{name}"',
    }
    return StreamingResponse(storage.iter_bytes(key), media_type="application/octet-stream", headers=headers)


def to_out(job: Job, schema: type[JobSummary] = JobOut) -> JobSummary:
    derived = ("state", "progress", "artifacts", "heartbeat_age_s", "members")
    fields = {name: getattr(job, name) for name in schema.model_fields if name not in derived}
    return schema(
        **fields,
        state=records.job_state(job),
        progress=records.job_progress(job),
        artifacts=sorted(job.artifacts),
        heartbeat_age_s=seconds_since(job.heartbeat_at) if job.state == "running" else None,
        members=[member_out(c) for c in job.children],
    )


def member_out(job: Job) -> JobMember:
    fields = {name: getattr(job, name) for name in JobMember.model_fields if name != "progress"}
    return JobMember(**fields, progress=records.job_progress(job))


def seconds_since(moment: datetime | None) -> float | None:
    return None if moment is None else round((utcnow() - moment).total_seconds(), 1)
