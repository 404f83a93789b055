"""A project's label versions (``worker.state.label_versions``): listed with the models trained on
each, downloaded as they were, compared, and restored."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.deps import ProjectDep, SessionDep, StorageDep, UserDep
from app.api.routes.labels import ViewQuery, project_view, replace_labels
from app.api.schemas import LabelVersionChanges, LabelVersionOut, ViewChanges
from worker.state.db.models import LabelVersion, Model, Project, User
from worker.state.label_versions import compare, restore_version, version_key, version_tables

router = APIRouter(prefix="/projects/{project_id}/labels/versions", tags=["labels"])

VersionNumber = Annotated[int, Query(ge=1, le=2**31 - 1, description="a version's number")]
NumberInPath = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


@router.get("", response_model=list[LabelVersionOut])
def list_versions(project: ProjectDep, session: SessionDep) -> list[LabelVersionOut]:
    """Every version of the project's labels, newest first, with the models trained on each."""
    versions = session.scalars(
        select(LabelVersion).where(LabelVersion.project_id == project.id).order_by(LabelVersion.number.desc())
    ).all()
    return _described(session, project, versions)


def _described(session: Session, project: Project, versions: list[LabelVersion]) -> list[LabelVersionOut]:
    """``versions`` as the API shows them: with who made each and the models trained on it."""
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
    number: NumberInPath,
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


@router.post("/{number}/restore", response_model=LabelVersionOut)
def restore(
    request: Request,
    project: ProjectDep,
    session: SessionDep,
    storage: StorageDep,
    user: UserDep,
    number: NumberInPath,
) -> LabelVersionOut:
    """Make version ``number``'s labels the project's again: its label files, byte for byte, become
    the current ones, recorded as a new version ("restore of version N"; versions are never
    rewritten, and the state replaced stays a version, so restoring that one undoes this), and its
    Label Studio tasks are brought in line so that the sync does not bring the replaced labels back.
    A frame labeled in Label Studio that the version does not label loses its annotations and stays
    a task, unlabeled, to label again; a frame the version labels whose task was deleted gets a new
    one. Label Studio down: 503, and nothing is written (should it stop answering midway, restoring
    again finishes its side)."""
    version = _version(session, project, number)
    restored = replace_labels(
        request, session, project, lambda: restore_version(session, storage, project, version, user.id)
    )
    return _described(session, project, [restored])[0]


def _version(session, project: Project, number: int) -> LabelVersion:
    found = session.scalar(
        select(LabelVersion).where(LabelVersion.project_id == project.id, LabelVersion.number == number)
    )
    if found is None:
        raise HTTPException(
            404, f"project {project.id} has no label version {number}; GET labels/versions lists them"
        )
    return found
