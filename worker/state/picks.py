"""The frames a frame job (``extract_frames``, ``select_frames``) picked, as its ``frames.csv``
lists them: frame number, label-file row name (one row per view with separate cameras) and why it
was picked; and for an active selection by an ensemble, how much its members disagree on the video
(``selection.json``)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.state.db.models import Job
from worker.state.storage import Storage

FRAME_JOBS = ("extract_frames", "select_frames")  # jobs whose frames.csv picks become tasks
PICKS_FILE = "frames.csv"
SELECTION_FILE = "selection.json"  # {"ensemble_std_median": pixels}, see core.selection.suggest_frames


@dataclass(frozen=True)
class Pick:
    frame: int
    image: str
    reasons: str  # ";"-joined; files written before reasons were recorded have none


def job_picks(storage: Storage, job: Job) -> list[Pick]:
    """The picks of a succeeded frame job; none while it has no (or no longer a) ``frames.csv``."""
    key = job.artifacts.get(PICKS_FILE)
    if key is None or not storage.exists(key):
        return []
    with storage.open(key) as f:
        rows = list(csv.DictReader(io.TextIOWrapper(f, "utf-8")))
    return [Pick(int(row["frame"]), row["image"], row.get("reasons") or "") for row in rows]


def project_picks(session: Session, storage: Storage, project_id: int) -> list[Pick]:
    """Every pick of the project's succeeded frame jobs, in job order (with separate cameras, one per
    view of each picked moment)."""
    jobs = session.scalars(
        select(Job)
        .where(Job.project_id == project_id, Job.kind.in_(FRAME_JOBS), Job.state == "succeeded")
        .order_by(Job.id)
    )
    return [pick for job in jobs for pick in job_picks(storage, job)]


def video_spread(storage: Storage, job: Job) -> float | None:
    """An ensemble's median spread (pixels) on the video a ``select_frames`` job mined; None for
    one model, or a job of another kind."""
    key = job.artifacts.get(SELECTION_FILE)
    if key is None or not storage.exists(key):
        return None
    with storage.open(key) as f:
        return json.load(f).get("ensemble_std_median")
