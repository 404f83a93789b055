"""``GET /health``: whether the parts the service needs are up, for probes (Compose, ``posecloud up``)
and for people. It says only states and counts, nothing about another user's work."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select, text

from app.api.deps import QueueDep, SessionDep, SettingsDep
from worker.state.db.models import WorkerSlot, utcnow

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request, session: SessionDep, queue: QueueDep, settings: SettingsDep) -> JSONResponse:
    """``{"status": "ok" | "down", "parts": {name: {"state", "detail"}}}``; 503 when the database or
    the job queue (Redis) is down. Workers, Label Studio and FiftyOne (when this server has them) are reported
    but not required: jobs wait in the queue until a worker slot is alive, and labeling waits for
    Label Studio while everything else works."""
    parts = {"database": _database(session), "redis": _redis(queue)}
    alive_since = utcnow() - timedelta(seconds=settings.stale_after_s)
    slots = 0
    if parts["database"]["state"] == "up":
        slots = session.scalar(select(func.count()).where(WorkerSlot.heartbeat_at >= alive_since))
    parts["workers"] = {
        "state": "up" if slots else "none",
        "detail": f"{slots} live worker slot(s)"
        if slots
        else "no live worker slot: jobs wait until one starts",
    }
    labelstudio = request.app.state.labelstudio
    if labelstudio is not None:
        up = labelstudio.server.healthy()
        parts["labelstudio"] = {
            "state": "up" if up else "down",
            "detail": "Label Studio answers"
            if up
            else "Label Studio does not answer: labeling waits, nothing is lost",
        }
    fiftyone = request.app.state.fiftyone
    if fiftyone is not None:
        up = fiftyone.mongo.healthy()
        parts["fiftyone"] = {
            "state": "up" if up else "down",
            "detail": f"MongoDB answers; FiftyOne servers confined by {fiftyone.confinement}"
            if up
            else "FiftyOne's MongoDB does not answer: comparisons wait, nothing is lost",
        }
    down = [name for name in ("database", "redis") if parts[name]["state"] != "up"]
    body = {"status": "down" if down else "ok", "parts": parts}
    return JSONResponse(body, status_code=503 if down else 200)


def _database(session) -> dict:
    try:
        session.execute(text("SELECT 1"))
        return {"state": "up", "detail": session.get_bind().dialect.name}
    except Exception as e:  # any driver error means the same to a probe
        session.rollback()
        return {"state": "down", "detail": f"the database does not answer: {type(e).__name__}"}


def _redis(queue) -> dict:
    if queue.run_id() is None:
        return {
            "state": "down",
            "detail": "Redis (the job queue) does not answer; jobs are sent once it is back",
        }
    return {"state": "up", "detail": "Redis answers"}
