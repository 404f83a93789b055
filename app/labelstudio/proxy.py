"""The one way in to Label Studio: ``/labelstudio/...`` on the API's port, for signed-in posecloud
users only, each as their own Label Studio user, reaching only what belongs to the posecloud
projects they may see.

Label Studio's community edition has no project permissions a multi-user app can rely on (any
member of an organization reads every project; some endpoints check nothing), so every request is
checked here against an allow-list: static assets; the pages and API of the user's own projects,
their tasks, and the annotations, drafts and predictions of those tasks (looked up in Label Studio
by the admin and remembered); the user's own whoami. Everything else (other projects, the project
list, users and organizations, tokens, webhooks, storages, file serving, imports, sign-in pages) is
refused with 403 (404 for objects of projects the user may not see). The client's own credentials
and cookies are dropped; the request is signed with the user's Label Studio access token; Label
Studio's cookies are not passed back. Bodies stream in both directions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.proxying import Refused
from worker.db.models import LabelStudioProject, LabelStudioTask, Project

PREFIX = "/labelstudio"
STATIC = re.compile(r"^/(static|react-app|label-studio-frontend|dm-static)/|^/favicon\.ico$")
DROPPED_REQUEST_HEADERS = {
    "authorization",
    "x-api-key",
    "cookie",
    "host",
}  # Content-Length stays: Label Studio reads no chunked bodies
DROPPED_RESPONSE_HEADERS = {"set-cookie"}  # the browser keeps posecloud's session, not Label Studio's


@dataclass
class Access:
    """What one user may reach: the Label Studio projects of their posecloud projects."""

    session: Session
    ls_user_id: int
    projects: dict[int, int]  # Label Studio project id -> posecloud project id
    owner_of: Callable[
        [str, int], int | None
    ]  # ("annotation" | "draft" | "prediction" | "view", id) -> task/project

    def project(self, ls_project_id: int) -> None:
        if ls_project_id not in self.projects:
            raise Refused(404, f"Label Studio project {ls_project_id} is not one of your posecloud projects")

    def task(self, ls_task_id: int) -> None:
        task = self.session.get(LabelStudioTask, ls_task_id)
        if task is None or task.project_id not in self.projects.values():
            raise Refused(404, f"task {ls_task_id} is not in one of your posecloud projects")

    def task_of(self, kind: str, object_id: int) -> None:
        task = self.owner_of(kind, object_id)
        if task is None:
            raise Refused(404, f"{kind} {object_id} is not in one of your posecloud projects")
        self.task(task)


def access_for(session: Session, visible: list[Project], ls_user_id: int, owner_of) -> Access:
    ids = [p.id for p in visible]
    records = session.scalars(select(LabelStudioProject).where(LabelStudioProject.project_id.in_(ids)))
    return Access(session, ls_user_id, {r.ls_project_id: r.project_id for r in records}, owner_of)


def _int(value: str | None, what: str) -> int:
    if value is None or not value.isdigit():
        raise Refused(403, f"this Label Studio request needs ?{what}=<id> of one of your projects")
    return int(value)


READ = ("GET", "HEAD", "OPTIONS")


def check(method: str, path: str, query: dict[str, str], access: Access) -> None:
    """Raise Refused unless ``method path?query`` (``path`` without the prefix) is allowed."""
    if STATIC.search(path):
        if method not in READ:
            raise Refused(403, "static files are read-only")
        return
    if m := re.fullmatch(r"/projects/(\d+)(/.*)?", path):  # the project's pages (data manager, labeling)
        access.project(int(m[1]))
        if method not in READ:
            raise Refused(403, "Label Studio's pages are only read; changes go through its API")
        return
    if m := re.fullmatch(r"/api/projects/(\d+)(/[\w-]*)*/?", path):
        access.project(int(m[1]))
        rest = path.split("/")[4:]
        if (
            rest
            and rest[0] in ("import", "reimport", "imports", "file-uploads", "tasks")
            and method not in READ
        ):
            raise Refused(
                403, "tasks are made by posecloud (extract frames there); they cannot be imported here"
            )
        if not rest and method == "DELETE":
            raise Refused(403, "a project is deleted in posecloud, not in Label Studio")
        return
    if m := re.fullmatch(r"/api/tasks/(\d+)(/[\w-]*)*/?", path):
        access.task(int(m[1]))
        return
    if re.fullmatch(r"/api/tasks/?", path):
        access.project(_int(query.get("project"), "project"))
        if method not in READ:
            raise Refused(403, "tasks are made by posecloud (extract frames there)")
        return
    for kind, pattern in (
        ("annotation", r"/api/annotations/(\d+)(/[\w-]*)?/?"),
        ("draft", r"/api/drafts/(\d+)/?"),
        ("prediction", r"/api/predictions/(\d+)/?"),
    ):
        if m := re.fullmatch(pattern, path):
            access.task_of(kind, int(m[1]))
            return
    if re.fullmatch(r"/api/predictions/?", path) and method in READ:
        access.task(_int(query.get("task"), "task"))
        return
    if m := re.fullmatch(r"/api/dm/views/(\d+)(/[\w-]*)?/?", path):
        owner = access.owner_of("view", int(m[1]))
        if owner is None:
            raise Refused(404, f"view {m[1]} is not in one of your posecloud projects")
        access.project(owner)
        return
    if re.fullmatch(r"/api/dm/(views|actions|columns|project)(/[\w-]*)?/?", path):
        access.project(_int(query.get("project"), "project"))
        return
    if path.rstrip("/") in ("/api/current-user/whoami", "/api/version") and method in READ:
        return
    # the project's ML backends and custom-label links, read by the labeling page (posecloud sets none)
    if re.fullmatch(r"/api/(ml|label_links)/?", path) and method in READ:
        access.project(_int(query.get("project"), "project"))
        return
    if (m := re.fullmatch(r"/api/users/(\d+)/?", path)) and method in READ and int(m[1]) == access.ls_user_id:
        return
    raise Refused(403, f"{method} {PREFIX}{path} is not open through posecloud")
