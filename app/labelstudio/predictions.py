"""Pre-annotations: the keypoints a model or an ensemble put on a project's frames (the
``preannotations.csv`` of a ``preannotate`` or ``select_frames`` job) as Label Studio predictions on
their tasks, marked with the model's or ensemble's name (``model_version``), in percent of each
image (``labels.annotation_result``, the inverse of the label files' pixels).

The service pushes them, not the job: a worker may run where Label Studio (on the service's
127.0.0.1) cannot be reached. A job's predictions are pushed once, at the first sync after it
succeeded at which Label Studio answers and its moments have tasks; a marker file beside the job's
artifacts says it was done (so no database change is needed).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.labelstudio.labels import annotation_result, image_size, view_images
from core.labels.dlc_csv import read_pose_csv
from core.labels.table import PoseTable
from worker.state.db.models import Job, LabelStudioTask, Project
from worker.state.layout import PREANNOTATIONS, job_prefix
from worker.state.storage import Storage

KINDS = ("preannotate", "select_frames")
PUSHED = "labelstudio-pushed.json"


def pushed_key(job: Job) -> str:
    return f"{job_prefix(job.project_id, job.id)}/{PUSHED}"


def unpushed_jobs(session: Session, storage: Storage, project: Project) -> list[Job]:
    """The project's succeeded jobs with pre-annotations not pushed to Label Studio yet, oldest first."""
    jobs = session.scalars(
        select(Job)
        .where(Job.project_id == project.id, Job.kind.in_(KINDS), Job.state == "succeeded")
        .order_by(Job.id)
    )
    return [j for j in jobs if PREANNOTATIONS in j.artifacts and not storage.exists(pushed_key(j))]


def read_preannotations(storage: Storage, job: Job, project: Project) -> PoseTable:
    """A job's pre-annotations (rows: images of every view), the project's keypoints in its order."""
    with tempfile.TemporaryDirectory() as work:
        local = Path(work) / PREANNOTATIONS
        storage.get_file(job.artifacts[PREANNOTATIONS], local)
        return read_pose_csv(local).select_keypoints(list(project.keypoints))


def task_predictions(
    storage: Storage, project: Project, table: PoseTable, tasks: list[LabelStudioTask]
) -> list[dict] | None:
    """The Label Studio predictions of ``table`` for the tasks of its moments (tasks deleted in
    Label Studio get none); None while one of its moments has no task yet (a selection's picks
    before a sync made their tasks)."""
    by_image = {t.image: t for t in tasks}
    rows = {image: i for i, image in enumerate(table.index)}
    first = project.views[0]
    moments = [image for image in table.index if view_images(project, image)[first] == image]
    if any(m not in by_image for m in moments):
        return None
    likelihood = table.field("likelihood")
    out = []
    for moment in moments:
        task = by_image[moment]
        if task.deleted_at is not None:
            continue
        images = {v: image for v, image in view_images(project, moment).items() if image in rows}
        points = {v: table.xy[rows[image]] for v, image in images.items()}
        sizes = {v: image_size(storage, project.id, image) for v, image in images.items()}
        seen = likelihood[[rows[image] for image in images.values()]]
        out.append(
            {
                "task": task.ls_task_id,
                "result": annotation_result(points, sizes, project),
                "score": float(np.nanmean(seen)) if np.isfinite(seen).any() else None,
                "model_version": table.scorer,
            }
        )
    return out


def mark_pushed(storage: Storage, job: Job, count: int) -> None:
    body = json.dumps({"predictions": count, "model_version": job.params.get("model_version")})
    storage.put_stream([body.encode()], pushed_key(job))
