"""Label quality control of a project's labels (``core.plausibility.label_qc``): the frames likely
labeled wrong, with the reasons, worst first, each with its Label Studio task where there is one;
and a reviewer's "these labels are right", which clears a frame's flag until its labels change."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Query

from app.api.deps import ProjectDep, SessionDep, StorageDep
from app.api.routes.labeling import labeling_tasks
from app.api.schemas import FlaggedFrame, LabelQCOut, QCReviewed, ViewQC
from core.errors import PoseCloudError
from core.labels.table import PoseTable
from core.plausibility.label_qc import Z_FLAG, image_sizes, label_qc
from worker.jobs.project_data import project_config
from worker.state.db.models import Project
from worker.state.label_versions import current_tables
from worker.state.layout import data_prefix, project_prefix
from worker.state.storage import Storage

router = APIRouter(prefix="/projects/{project_id}/labels/qc", tags=["labels"])


@router.get("", response_model=LabelQCOut)
def label_qc_report(
    project: ProjectDep,
    session: SessionDep,
    storage: StorageDep,
    z: Annotated[
        float, Query(gt=0, le=100, description="robust z-score from which a check flags a frame")
    ] = Z_FLAG,
) -> LabelQCOut:
    """Every view's labeled frames checked against the project's other labels: left/right swaps,
    keypoints far from where the others put them, unusual skeleton edges and angles, keypoints
    outside the frame, two keypoints at one point. Frames a reviewer said are right (and whose labels
    have not changed since) are listed apart."""
    config = project_config(project, storage.local_path(data_prefix(project.id)) or Path("."))
    reviewed = _reviewed(storage, project)
    tasks = {row: t["url"] for t in labeling_tasks(project, session)["tasks"] for row in t["rows"].values()}
    views = []
    for view, table in current_tables(storage, project).items():
        sizes = image_sizes(config.data_dir, table.index) if storage.is_local else None
        try:
            qc = label_qc(table, config, sizes, z)
        except PoseCloudError as e:
            raise HTTPException(422, f"the labels of view {view} cannot be checked: {e}") from None
        flagged, cleared = [], []
        for frame in qc.for_review():
            out = FlaggedFrame(
                image=frame.frame,
                score=round(frame.score, 2),
                reasons=[
                    {"kind": r.kind, "keypoints": list(r.keypoints), "detail": r.detail}
                    for r in frame.reasons
                ],
                labelstudio_url=tasks.get(frame.frame),
            )
            right = reviewed.get(frame.frame) == _row_hash(table, frame.frame)
            (cleared if right else flagged).append(out)
        labeled = int(np.isfinite(table.xy).all(axis=-1).any(axis=-1).sum())
        views.append(ViewQC(view=view, frames=labeled, flagged=flagged, reviewed=cleared, notes=qc.notes))
    return LabelQCOut(z=z, views=views)


@router.post("/reviewed", response_model=QCReviewed)
def mark_reviewed(body: QCReviewed, project: ProjectDep, storage: StorageDep) -> QCReviewed:
    """A reviewer's "these frames' labels are right": their flags are cleared while their labels
    stay as they are now (a later change flags them again if the checks still do)."""
    tables = current_tables(storage, project)
    # an image is in one view's label file (with separate cameras, each view names its own images)
    hashes = {
        image: _row_hash(t, image) for t in tables.values() for image in body.images if image in t.index
    }
    unknown = [image for image in body.images if image not in hashes]
    if unknown:
        raise HTTPException(
            404, f"no labeled frame {unknown[0]!r} in project {project.id}; GET labels/qc lists them"
        )
    reviewed = _reviewed(storage, project)
    reviewed.update(hashes)
    storage.put_stream([json.dumps(reviewed, indent=1).encode()], _reviewed_key(project))
    return body


def _row_hash(table: PoseTable, image: str) -> str:
    row = table.xy[table.index.index(image)]
    return hashlib.sha256(np.round(row, 3).tobytes()).hexdigest()


def _reviewed_key(project: Project) -> str:
    return f"{project_prefix(project.id)}/qc-reviewed.json"


def _reviewed(storage: Storage, project: Project) -> dict[str, str]:
    """Image -> the hash of its labels when a reviewer said they are right."""
    key = _reviewed_key(project)
    if not storage.exists(key):
        return {}
    with storage.open(key) as f:
        return json.load(f)
