"""Projects: create, list, get, share with members, delete. Non-members get 404 everywhere."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.api.deps import ProjectDep, SessionDep, StorageDep, UserDep, accessible_projects
from app.api.schemas import MemberAdd, ProjectCreate, ProjectOut
from core.config import ProjectConfig, parse_config
from worker.db.models import Project, ProjectMember, User
from worker.layout import labels_file, project_prefix

router = APIRouter(prefix="/projects", tags=["projects"])


def project_out(project: Project) -> ProjectOut:
    return ProjectOut(
        id=project.id,
        name=project.name,
        owner=project.owner.username,
        members=sorted(m.user.username for m in project.members),
        keypoints=project.keypoints,
        skeleton=[(a, b) for a, b in project.skeleton],
        views=project.views,
        pca_keypoints=project.pca_keypoints,
        view_matches=project.view_matches,
        flip_pairs=[(a, b) for a, b in project.flip_pairs],
        created_at=project.created_at,
    )


def _require_owner(project: Project, user: User, action: str) -> None:
    if project.owner_id != user.id:
        owner = project.owner.username
        raise HTTPException(403, f"only the owner ({owner}) can {action} project {project.id}")


@router.post("", status_code=201, response_model=ProjectOut)
def create_project(body: ProjectCreate, user: UserDep, session: SessionDep) -> ProjectOut:
    """Create a project owned by the caller; its settings are checked like a project.yaml."""
    config = parse_config(
        ProjectConfig, {**body.model_dump(), "labels_file": labels_file(body.views)}, "project"
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
        detail = f"you already have a project named {body.name!r}; choose another name"
        raise HTTPException(409, detail) from None
    return project_out(project)


@router.get("", response_model=list[ProjectOut])
def list_projects(user: UserDep, session: SessionDep) -> list[ProjectOut]:
    """Projects the caller owns or is a member of."""
    return [project_out(p) for p in session.scalars(accessible_projects(user))]


@router.get("/{project_id}", response_model=ProjectOut)
def get_project(project: ProjectDep) -> ProjectOut:
    return project_out(project)


@router.post("/{project_id}/members", status_code=201, response_model=ProjectOut)
def add_member(project: ProjectDep, body: MemberAdd, user: UserDep, session: SessionDep) -> ProjectOut:
    """Share the project with another user (owner only); members can read and write it."""
    _require_owner(project, user, "add members to")
    username = body.username.lower()
    member = session.scalar(select(User).where(User.username == username))
    if member is None:
        raise HTTPException(404, f"no user named {username!r}; they must register first")
    if member.id == project.owner_id or any(m.user_id == member.id for m in project.members):
        raise HTTPException(409, f"{username!r} already has access to project {project.id}")
    project.members.append(ProjectMember(user_id=member.id))
    session.commit()
    session.refresh(project)
    return project_out(project)


@router.delete("/{project_id}", status_code=204)
def delete_project(project: ProjectDep, user: UserDep, session: SessionDep, storage: StorageDep) -> Response:
    """Delete the project, its records and its files (owner only)."""
    _require_owner(project, user, "delete")
    session.delete(project)
    session.commit()
    storage.delete(project_prefix(project.id))
    return Response(status_code=204)
