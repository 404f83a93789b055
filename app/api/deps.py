"""Request-scoped dependencies: database session, service objects, the caller and their project."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from app.roles import PERMITS, refusal, role_of, route_action
from app.security import Passwords, token_digest
from app.settings import Settings
from worker.state.db.models import AuthToken, Project, ProjectMember, User, utcnow
from worker.state.queue import JobQueue
from worker.state.storage import Storage

_bearer = OAuth2PasswordBearer(tokenUrl="auth/login", auto_error=False)
SESSION_COOKIE = "posecloud_session"


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_storage(request: Request) -> Storage:
    return request.app.state.storage


def get_passwords(request: Request) -> Passwords:
    return request.app.state.passwords


def get_queue(request: Request) -> JobQueue:
    return request.app.state.queue


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StorageDep = Annotated[Storage, Depends(get_storage)]
PasswordsDep = Annotated[Passwords, Depends(get_passwords)]
QueueDep = Annotated[JobQueue, Depends(get_queue)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def user_of_token(session: Session, token: str) -> User | None:
    valid = (AuthToken.token_hash == token_digest(token), AuthToken.expires_at > utcnow())
    return session.scalar(select(User).join(AuthToken, AuthToken.user_id == User.id).where(*valid))


def current_user(session: SessionDep, token: Annotated[str | None, Depends(_bearer)]) -> User:
    """The user owning the request's bearer token; 401 when it is missing, unknown or expired."""
    if token is None:
        raise _unauthorized(
            "not logged in: get a token from POST /auth/login and send 'Authorization: Bearer <token>'"
        )
    user = user_of_token(session, token)
    if user is None:
        raise _unauthorized("the bearer token is invalid or has expired; log in again at POST /auth/login")
    return user


def browser_user(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(_bearer)]
) -> User:
    """For the pages served to browsers (Label Studio, FiftyOne, frames): the user of the bearer
    token or of the session cookie that signing in set; without either, a page a person opened goes
    to the sign-in page and back here after it, anything else gets 401."""
    token = token or request.cookies.get(SESSION_COOKIE)
    user = user_of_token(session, token) if token else None
    if user is None:
        if request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", ""):
            wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise HTTPException(303, "sign in first", headers={"Location": signin_url(wanted)})
        raise _unauthorized(
            "not signed in to posecloud (or the session expired): sign in, then reopen this page"
        )
    return user


def signin_url(wanted: str) -> str:
    """The sign-in page, which returns to ``wanted`` (a path of this site) afterwards."""
    return f"/signin?next={urllib.parse.quote(wanted, safe='')}"


UPLOAD_HEADER = "X-Posecloud-Upload"


def upload_user(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(_bearer)]
) -> User:
    """For uploads: the bearer token, or, from the front end's uploader, the session cookie with the
    ``X-Posecloud-Upload`` header, which a page of another site cannot send (a forged form carries
    no such header, and a cross-site script's custom header needs a CORS consent never given)."""
    if token is None and request.headers.get(UPLOAD_HEADER) != "1":
        return current_user(session, None)
    return browser_user(request, session, token)


UserDep = Annotated[User, Depends(current_user)]
BrowserUserDep = Annotated[User, Depends(browser_user)]
UploadUserDep = Annotated[User, Depends(upload_user)]


def accessible_projects(user: User) -> Select[tuple[Project]]:
    """Projects the user owns or is a member of."""
    member = Project.members.any(ProjectMember.user_id == user.id)
    return select(Project).where(or_(Project.owner_id == user.id, member)).order_by(Project.id)


def project_for_user(request: Request, project_id: int, user: UserDep, session: SessionDep) -> Project:
    """The project if the caller owns it or is a member (404 otherwise, so existence is not
    revealed) and their role permits what the route does (403 otherwise, saying why)."""
    return _permitted_project(request, session, user, project_id)


def project_for_browser(
    request: Request, project_id: int, user: BrowserUserDep, session: SessionDep
) -> Project:
    """``project_for_user`` for the pages served to browsers (bearer or session cookie)."""
    return _permitted_project(request, session, user, project_id)


def project_for_upload(
    request: Request, project_id: int, user: UploadUserDep, session: SessionDep
) -> Project:
    return _permitted_project(request, session, user, project_id)


def _permitted_project(request: Request, session: Session, user: User, project_id: int) -> Project:
    project = session.scalar(accessible_projects(user).where(Project.id == project_id))
    if project is None:
        raise HTTPException(404, f"project {project_id} not found; list yours with GET /projects")
    route = request.scope["route"].path
    action = route_action(request.method, route)
    if action is None:  # every project route is in app.roles' table; one that is not is closed
        raise HTTPException(403, f"{request.method} {route} has no role rule; nobody may use it")
    role = role_of(project, user)
    if action not in PERMITS[role]:
        raise HTTPException(403, refusal(project, role, action))
    return project


ProjectDep = Annotated[Project, Depends(project_for_user)]
UploadProjectDep = Annotated[Project, Depends(project_for_upload)]
BrowserProjectDep = Annotated[Project, Depends(project_for_browser)]
