"""Labels: upload (CSV/H5, a ZIP with labeled-data/, a zipped DeepLabCut project, a SLEAP file) and
download as a DeepLabCut-style CSV."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy.orm import Session

from app.api.deps import ProjectDep, QueueDep, SessionDep, SettingsDep, StorageDep, UserDep
from app.api.routes.labeling import get_labelstudio
from app.api.routes.videos import check_camera_video, video_adder
from app.api.schemas import LabelsOut
from app.filenames import safe_filename
from app.labels_import import read_upload
from app.labelstudio.accounts import LabelStudioDown
from app.probe import probe_video
from app.settings import Settings
from app.uploads import SizeLimit, check_declared_size, receive_to_file
from core.data.cameras import check_rows_aligned
from core.labels.formats import READERS, read_labels
from core.labels.imported import LABELS_CSV, VIDEO_DIR
from core.labels.table import PoseTable
from worker.state.db.models import LabelStudioProject, Project, Video
from worker.state.label_versions import record_version
from worker.state.layout import data_prefix, labels_key
from worker.state.storage import Storage

router = APIRouter(prefix="/projects/{project_id}/labels", tags=["labels"])
T = TypeVar("T")

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "the raw file as the request body: .csv, .h5, .zip or .slp",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


ViewQuery = Annotated[
    str | None,
    Query(max_length=100, description="the camera view the labels are for (projects with separate cameras)"),
]


def project_view(project: Project, view: str | None) -> str:
    """The view a labels request is for: the project's one view, or (separate cameras) the one named."""
    if len(project.views) == 1 and view in (None, project.views[0]):
        return project.views[0]
    if view is None:
        raise HTTPException(
            422,
            f"project {project.id} has {len(project.views)} camera views ({', '.join(project.views)}); "
            "say which view's labels these are with ?view=NAME",
        )
    if view not in project.views:
        raise HTTPException(
            422, f"view {view!r} is not one of project {project.id}'s views ({', '.join(project.views)})"
        )
    return view


def _check_aligned(table: PoseTable, view: str, project: Project, storage: Storage, work: Path) -> None:
    """Separate cameras: the new labels' rows must be the same moments as the other views' stored labels."""
    indexes, views, paths = [], [], []
    for other in project.views:
        key = labels_key(project.id, project.views, other)
        if other == view:
            indexes.append(table.index)
        elif storage.exists(key):
            path = work / Path(key).name
            storage.get_file(key, path)
            indexes.append(read_labels(path).index)
        else:
            continue
        views.append(other)
        paths.append(Path(key))
    check_rows_aligned(indexes, views, paths)


def replace_labels(request: Request, session: Session, project: Project, write: Callable[[], T]) -> T:
    """Run ``write``, which replaces the project's label files, so that Label Studio keeps what it
    wrote: its annotations brought in line (``LabelStudio.replace_labels``), or ``write`` alone
    while the project has no labeling page. Label Studio down: 503, and nothing is written."""
    if request.app.state.labelstudio is None and session.get(LabelStudioProject, project.id) is None:
        return write()
    try:
        return get_labelstudio(request).replace_labels(session, project, write)
    except LabelStudioDown as e:
        raise HTTPException(503, str(e)) from None


def _store_labels(
    upload: Path,
    filename: str,
    view: str,
    project: Project,
    settings: Settings,
    storage: Storage,
    add: AddVideo,
) -> LabelsOut:
    prefix = data_prefix(project.id)
    with tempfile.TemporaryDirectory(dir=settings.upload_tmp_dir) as work:
        folder, table, _skeleton = read_upload(
            upload,
            filename,
            Path(work),
            project.keypoints,
            lambda name: storage.exists(f"{prefix}/{name}"),
            settings.max_upload_bytes,
            settings.labels_limit,
        )
        if len(project.views) > 1:
            _check_aligned(table, view, project, storage, Path(work))
        return store_labels(folder, table, view, project, storage, add)


AddVideo = Callable[[Path, str], Video]
"""Records a video file in the project (``videos.add_video`` with the request's project and user)."""


def store_labels(
    folder: Path, table: PoseTable, view: str, project: Project, storage: Storage, add: AddVideo
) -> LabelsOut:
    """Put checked labels (``folder``: CollectedData.csv and labeled-data/) into the project's storage,
    and the videos they came with (``folder/videos/``, a DeepLabCut project's) into its videos, each
    queued for transcoding. A video that is not readable refuses the whole upload before anything
    is stored."""
    prefix = data_prefix(project.id)
    videos = sorted(p for p in (folder / VIDEO_DIR).glob("*") if p.is_file())
    names = [safe_filename(p.name, fallback="video") for p in videos]
    for path, name in zip(videos, names, strict=True):
        probe_video(path, name)
        if len(project.views) > 1:
            check_camera_video(project, name)
    # Images first, the label file last: a reader never sees labels whose images are missing.
    images = [p for p in folder.rglob("*") if p.is_file() and p.name != LABELS_CSV and p not in videos]
    for path in sorted(images):
        storage.put_file(path, f"{prefix}/{path.relative_to(folder).as_posix()}")
    storage.put_file(folder / LABELS_CSV, labels_key(project.id, project.views, view))
    brought = [add(path, name).filename for path, name in zip(videos, names, strict=True)]
    labeled = int(np.isfinite(table.xy).all(axis=-1).sum())
    return LabelsOut(
        view=view,
        frames=len(table.index),
        keypoints=table.keypoints,
        labeled_keypoints=labeled,
        videos=brought,
    )


def upload_limit(filename: str, settings: Settings) -> SizeLimit:
    """A label table alone (parsed in memory) has the label-file limit; an archive or a SLEAP file
    (mostly images, unpacked to disk) the upload limit."""
    return settings.labels_limit if Path(filename.lower()).suffix in READERS else settings.upload_limit


@router.put("", response_model=LabelsOut, openapi_extra=UPLOAD_BODY)
async def upload_labels(
    request: Request,
    project: ProjectDep,
    filename: Annotated[
        str,
        Query(
            min_length=1,
            max_length=1000,
            description="the file's name (sanitised; errors name it); its extension picks the format",
        ),
    ],
    settings: SettingsDep,
    storage: StorageDep,
    user: UserDep,
    session: SessionDep,
    queue: QueueDep,
    view: ViewQuery = None,
) -> LabelsOut:
    """Replace the project's labels (with separate cameras: one view's, rows the same moments as
    the other views'). Keypoint names must match the project; every labeled image must be in the
    upload or already in the project. A zipped DeepLabCut project's videos become the project's
    videos. Nothing is changed when the upload is rejected."""
    view = project_view(project, view)
    filename = safe_filename(filename, fallback="labels")
    limit = upload_limit(filename, settings)
    check_declared_size(request.headers.get("content-length"), limit)
    upload = settings.upload_tmp_dir / f"{uuid.uuid4().hex}.part"
    await receive_to_file(request.stream(), upload, limit)
    try:
        add = video_adder(project, session, storage, queue, user.id, settings.max_attempts)

        def store() -> LabelsOut:
            stored = _store_labels(upload, filename, view, project, settings, storage, add)
            record_version(session, storage, project, "upload", user.id)
            return stored

        return await run_in_threadpool(replace_labels, request, session, project, store)
    finally:
        upload.unlink(missing_ok=True)


@router.get("", response_class=Response)
def download_labels(project: ProjectDep, storage: StorageDep, view: ViewQuery = None) -> Response:
    """The project's labels (with separate cameras: one view's) as a DeepLabCut-style CSV."""
    view = project_view(project, view)
    key = labels_key(project.id, project.views, view)
    if not storage.exists(key):
        which = f" for view {view}" if len(project.views) > 1 else ""
        raise HTTPException(
            404, f"project {project.id} has no labels{which} yet; upload them with PUT labels"
        )
    with storage.open(key) as f:
        content = f.read()
    headers = {"Content-Disposition": f'attachment; filename="{Path(key).name}"'}
    return Response(content, media_type="text/csv", headers=headers)
