"""Projects: create, list, get, share with members, delete. Non-members get 404 everywhere."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.api.deps import (
    ProjectDep,
    QueueDep,
    SessionDep,
    SettingsDep,
    StorageDep,
    UserDep,
    accessible_projects,
)
from app.api.routes.labels import UPLOAD_BODY, store_labels
from app.api.routes.videos import video_adder
from app.api.schemas import MemberAdd, ProjectCreate, ProjectImported, ProjectOut, RoleChange
from app.filenames import safe_filename
from app.labels_import import read_upload
from app.settings import Settings
from app.uploads import check_declared_size, receive_to_file
from core.config import ProjectConfig, parse_config
from core.errors import PoseCloudError
from core.labels.formats import read_labels
from worker.state.db.models import Project, ProjectMember, User
from worker.state.label_versions import record_version
from worker.state.layout import labels_file, labels_key, project_prefix
from worker.state.queue import JobQueue
from worker.state.storage import Storage

router = APIRouter(prefix="/projects", tags=["projects"])


def project_out(project: Project, storage: Storage) -> ProjectOut:
    return ProjectOut(
        labeled_frames=labeled_frames(project, storage),
        id=project.id,
        name=project.name,
        owner=project.owner.username,
        members=sorted(m.user.username for m in project.members),
        roles={project.owner.username: "owner"} | {m.user.username: m.role for m in project.members},
        keypoints=project.keypoints,
        skeleton=[(a, b) for a, b in project.skeleton],
        views=project.views,
        pca_keypoints=project.pca_keypoints,
        view_matches=project.view_matches,
        flip_pairs=[(a, b) for a, b in project.flip_pairs],
        created_at=project.created_at,
    )


@router.post("", status_code=201, response_model=ProjectOut)
def create_project(
    body: ProjectCreate, user: UserDep, session: SessionDep, storage: StorageDep
) -> ProjectOut:
    """Create a project owned by the caller; its settings are checked like a project.yaml."""
    return project_out(new_project(session, user, body.model_dump()), storage)


def new_project(session: Session, user: User, spec: dict) -> Project:
    """Record a project owned by ``user`` from ``spec`` (ProjectCreate's fields), checked like a
    project.yaml; 409 when the user already has one of that name."""
    config = parse_config(
        ProjectConfig, {**spec, "labels_file": labels_file(spec.get("views", ["main"]))}, "project"
    )
    project = Project(
        name=config.name,
        owner_id=user.id,
        keypoints=config.keypoints,
        skeleton=[list(edge) for edge in config.skeleton],
        views=config.views,
        pca_keypoints=config.pca_keypoints,
        view_matches=config.view_matches,
        flip_pairs=[list(pair) for pair in config.flip_pairs],
    )
    session.add(project)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        detail = f"you already have a project named {config.name!r}; choose another name"
        raise HTTPException(409, detail) from None
    return project


@router.post("/import", status_code=201, response_model=ProjectImported, openapi_extra=UPLOAD_BODY)
async def import_project(
    request: Request,
    user: UserDep,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
    queue: QueueDep,
    filename: Annotated[str, Query(min_length=1, max_length=1000, description="the file's name (sanitised)")],
    name: Annotated[
        str | None, Query(max_length=200, description="the project's name (default: the file's)")
    ] = None,
) -> ProjectImported:
    """A new project made from another tool's: a zipped DeepLabCut project (keypoints and skeleton
    from its config.yaml; its labels, labeled frames and the videos it holds), a SLEAP file (its skeleton, labels and
    frames) or a ZIP of CollectedData.csv with labeled-data/ (its keypoints). Nothing is made when
    the upload is refused."""
    filename = safe_filename(filename, fallback="project")
    check_declared_size(request.headers.get("content-length"), settings.upload_limit)
    upload = settings.upload_tmp_dir / f"{uuid.uuid4().hex}.part"
    await receive_to_file(request.stream(), upload, settings.upload_limit)
    try:
        return await run_in_threadpool(
            _import, upload, filename, name, user, session, settings, storage, queue
        )
    finally:
        upload.unlink(missing_ok=True)


def _import(
    upload: Path,
    filename: str,
    name: str | None,
    user: User,
    session: Session,
    settings: Settings,
    storage: Storage,
    queue: JobQueue,
) -> ProjectImported:
    with tempfile.TemporaryDirectory(dir=settings.upload_tmp_dir) as work:
        folder, table, skeleton = read_upload(
            upload,
            filename,
            Path(work),
            None,
            lambda _: False,
            settings.max_upload_bytes,
            settings.labels_limit,
        )
        spec = {"name": name or Path(filename).stem, "keypoints": table.keypoints, "skeleton": skeleton}
        project = new_project(session, user, spec)
        try:
            add = video_adder(project, session, storage, queue, user.id, settings.max_attempts)
            labels = store_labels(folder, table, project.views[0], project, storage, add)
            record_version(session, storage, project, "import", user.id)
        except BaseException:  # nothing half-made: no project without its labels
            _delete(project, session, storage)
            raise
    return ProjectImported(project=project_out(project, storage), labels=labels)


@router.get("", response_model=list[ProjectOut])
def list_projects(user: UserDep, session: SessionDep, storage: StorageDep) -> list[ProjectOut]:
    """Projects the caller owns or is a member of."""
    return [project_out(p, storage) for p in session.scalars(accessible_projects(user))]


def labeled_frames(project: Project, storage: Storage) -> int | None:
    """Frames of the project's (first view's) label file with at least one labeled keypoint; None
    when the file cannot be read (the labels' own routes say why)."""
    key = labels_key(project.id, project.views, project.views[0])
    if not storage.exists(key):
        return 0
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / Path(key).name
        storage.get_file(key, path)
        try:
            xy = read_labels(path).xy
        except PoseCloudError:
            return None
    return int(np.isfinite(xy).all(axis=-1).any(axis=-1).sum())


@router.get("/{project_id}", response_model=ProjectOut)
def get_project(project: ProjectDep, storage: StorageDep) -> ProjectOut:
    return project_out(project, storage)


@router.post("/{project_id}/members", status_code=201, response_model=ProjectOut)
def add_member(project: ProjectDep, body: MemberAdd, session: SessionDep, storage: StorageDep) -> ProjectOut:
    """Share the project with another user in a role (owner only): a trainer labels, trains,
    predicts and compares; a labeler labels and sees the frames and labels; a viewer reads."""
    username = body.username.lower()
    member = session.scalar(select(User).where(User.username == username))
    if member is None:
        raise HTTPException(404, f"no user named {username!r}; they must register first")
    if member.id == project.owner_id or any(m.user_id == member.id for m in project.members):
        raise HTTPException(
            409, f"{username!r} already has access to project {project.id}; change their role instead"
        )
    project.members.append(ProjectMember(user_id=member.id, role=body.role))
    session.commit()
    session.refresh(project)
    return project_out(project, storage)


@router.patch("/{project_id}/members/{username}", response_model=ProjectOut)
def change_role(
    project: ProjectDep, username: str, body: RoleChange, session: SessionDep, storage: StorageDep
) -> ProjectOut:
    """Give a member another role (owner only)."""
    _member(project, username).role = body.role
    session.commit()
    return project_out(project, storage)


@router.delete("/{project_id}/members/{username}", status_code=204)
def remove_member(project: ProjectDep, username: str, session: SessionDep) -> Response:
    """Take the project away from a member (owner only)."""
    project.members.remove(_member(project, username))
    session.commit()
    return Response(status_code=204)


def _member(project: Project, username: str) -> ProjectMember:
    found = next((m for m in project.members if m.user.username == username.lower()), None)
    if found is None:
        raise HTTPException(404, f"{username!r} is not a member of project {project.id}")
    return found


@router.delete("/{project_id}", status_code=204)
def delete_project(project: ProjectDep, session: SessionDep, storage: StorageDep) -> Response:
    """Delete the project, its records and its files (owner only)."""
    _delete(project, session, storage)
    return Response(status_code=204)


def _delete(project: Project, session: Session, storage: Storage) -> None:
    session.delete(project)
    session.commit()
    storage.delete(project_prefix(project.id))
