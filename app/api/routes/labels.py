"""Labels: upload (CSV/H5, a ZIP with labeled-data/, a zipped DeepLabCut project, a SLEAP file) and
download as a DeepLabCut-style CSV."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from app.api.deps import ProjectDep, SettingsDep, StorageDep
from app.api.schemas import LabelsOut
from app.db.models import Project
from app.labels_import import check_labels, labels_from_upload
from app.settings import Settings
from app.storage import Storage
from app.uploads import check_declared_size, receive_to_file
from core.labels.imported import LABELS_CSV
from worker.layout import data_prefix

router = APIRouter(prefix="/projects/{project_id}/labels", tags=["labels"])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "the raw file as the request body: .csv, .h5, .zip or .slp",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def _store_labels(
    upload: Path, filename: str, project: Project, settings: Settings, storage: Storage
) -> LabelsOut:
    prefix = data_prefix(project.id)
    with tempfile.TemporaryDirectory(dir=settings.upload_tmp_dir) as work:
        folder = labels_from_upload(upload, filename, Path(work), settings.max_upload_bytes)
        table = check_labels(folder, project.keypoints, lambda name: storage.exists(f"{prefix}/{name}"))
        # Images first, the label file last: a reader never sees labels whose images are missing.
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != LABELS_CSV):
            storage.put_file(path, f"{prefix}/{path.relative_to(folder).as_posix()}")
        storage.put_file(folder / LABELS_CSV, f"{prefix}/{LABELS_CSV}")
    labeled = int(np.isfinite(table.xy).all(axis=-1).sum())
    return LabelsOut(frames=len(table.index), keypoints=table.keypoints, labeled_keypoints=labeled)


@router.put("", response_model=LabelsOut, openapi_extra=_UPLOAD_BODY)
async def upload_labels(
    request: Request,
    project: ProjectDep,
    filename: Annotated[
        str,
        Query(min_length=1, max_length=1000, description="the file's name; its extension picks the format"),
    ],
    settings: SettingsDep,
    storage: StorageDep,
) -> LabelsOut:
    """Replace the project's labels. Keypoint names must match the project; every labeled image must be
    in the upload or already in the project. Nothing is changed when the upload is rejected."""
    check_declared_size(request.headers.get("content-length"), settings.max_upload_bytes)
    upload = settings.upload_tmp_dir / f"{uuid.uuid4().hex}.part"
    await receive_to_file(request.stream(), upload, settings.max_upload_bytes)
    try:
        return await run_in_threadpool(_store_labels, upload, filename, project, settings, storage)
    finally:
        upload.unlink(missing_ok=True)


@router.get("", response_class=Response)
def download_labels(project: ProjectDep, storage: StorageDep) -> Response:
    """The project's labels as a DeepLabCut-style CSV."""
    key = f"{data_prefix(project.id)}/{LABELS_CSV}"
    if not storage.exists(key):
        raise HTTPException(404, f"project {project.id} has no labels yet; upload them with PUT labels")
    with storage.open(key) as f:
        content = f.read()
    headers = {"Content-Disposition": f'attachment; filename="{LABELS_CSV}"'}
    return Response(content, media_type="text/csv", headers=headers)
