"""Live worker slots: where jobs can run now (host, GPU or CPU) and what each is running."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from sqlalchemy import select

from app.api.deps import SessionDep, SettingsDep, UserDep, accessible_projects
from app.api.routes.jobs import seconds_since
from app.api.schemas import WorkerSlotOut
from worker.state.db.models import Job, WorkerSlot, utcnow

router = APIRouter(prefix="/workers", tags=["workers"])


@router.get("", response_model=list[WorkerSlotOut])
def list_workers(user: UserDep, session: SessionDep, settings: SettingsDep) -> list[WorkerSlotOut]:
    """Slots that beat within the last ``stale_after_s`` seconds. A busy slot names its job only when
    the job is in one of the caller's projects (others' work shows as busy, nothing more)."""
    alive_since = utcnow() - timedelta(seconds=settings.stale_after_s)
    slots = session.scalars(
        select(WorkerSlot).where(WorkerSlot.heartbeat_at >= alive_since).order_by(WorkerSlot.name)
    ).all()
    running = {
        job.worker: job
        for job in session.scalars(select(Job).where(Job.state == "running", Job.worker.is_not(None)))
    }
    mine = {project.id for project in session.scalars(accessible_projects(user))}
    out = []
    for slot in slots:
        job = running.get(slot.name)
        visible = job is not None and job.project_id in mine
        out.append(
            WorkerSlotOut(
                name=slot.name,
                host=slot.host,
                device=slot.device,
                started_at=slot.started_at,
                heartbeat_at=slot.heartbeat_at,
                heartbeat_age_s=seconds_since(slot.heartbeat_at),
                busy=job is not None,
                job_id=job.id if visible else None,
                project_id=job.project_id if visible else None,
            )
        )
    return out
