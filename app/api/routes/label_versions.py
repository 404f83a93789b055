"""A project's label versions (``worker.state.label_versions``): listed with the models trained on
each, downloaded as they were, and compared."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.responses import Response
from sqlalchemy import select

from app.api.deps import ProjectDep, SessionDep, StorageDep
from app.api.routes.labels import ViewQuery, project_view
from app.api.schemas import LabelVersionChanges, LabelVersionOut, ViewChanges
from worker.state.db.models import LabelVersion, Model, Project, User
from worker.state.label_versions import compare, version_key, version_tables

router = APIRouter(prefix="/projects/{project_id}/labels/versions", tags=["labels"])

VersionNumber = Annotated[int, Query(ge=1, le=2**31 - 1, description="a version's number")]


@router.get("", response_model=list[LabelVersionOut])
def list_versions(project: ProjectDep, session: SessionDep) -> list[LabelVersionOut]:
    """Every version of the project's labels, newest first, with the models trained on each."""
    versions = session.scalars(
        select(LabelVersion).where(LabelVersion.project_id == project.id).order_by(LabelVersion.number.desc())
    ).all()
    trained: dict[int, list[str]] = {}
    for model in session.scalars(select(Model).where(Model.project_id == project.id).order_by(Model.id)):
        trained.setdefault(model.label_version_id, []).append(model.name)
    users = dict(session.execute(select(User.id, User.username)).all())
    return [
        LabelVersionOut(
            number=v.number,
            sha256=v.sha256,
            source=v.source,
            user=users.get(v.user_id),
            labeled_frames=v.labeled_frames,
            models=trained.get(v.id, []),
            created_at=v.created_at,
        )
        for v in versions
    ]


@router.get("/compare", response_model=LabelVersionChanges)
def compare_versions(
    project: ProjectDep, session: SessionDep, storage: StorageDep, before: VersionNumber, after: VersionNumber
) -> LabelVersionChanges:
    """What changed from version ``before`` to version ``after``, view by view."""
    earlier = version_tables(storage, project, _version(session, project, before))
    later = version_tables(storage, project, _version(session, project, after))
    return LabelVersionChanges(
        before=before,
        after=after,
        views=[
            ViewChanges(view=view, **asdict(compare(earlier[view], later[view])))
            for view in project.views
            if view in earlier and view in later
        ],
    )


@router.get("/{number}", response_class=Response)
def download_version(
    project: ProjectDep,
    session: SessionDep,
    storage: StorageDep,
    number: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
    view: ViewQuery = None,
) -> Response:
    """The label file (with separate cameras: one view's) as it was in version ``number``."""
    key = version_key(project, _version(session, project, number), project_view(project, view))
    if not storage.exists(key):
        raise HTTPException(404, f"label version {number} has no label file for view {view}")
    with storage.open(key) as f:
        content = f.read()
    name = f"{Path(key).stem}.v{number}.csv"
    return Response(
        content, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _version(session, project: Project, number: int) -> LabelVersion:
    found = session.scalar(
        select(LabelVersion).where(LabelVersion.project_id == project.id, LabelVersion.number == number)
    )
    if found is None:
        raise HTTPException(
            404, f"project {project.id} has no label version {number}; GET labels/versions lists them"
        )
    return found
