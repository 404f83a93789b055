"""The one way in to Label Studio: ``/labelstudio/...`` on the API's port, for signed-in posecloud
users only, each as their own Label Studio user, reaching only what belongs to the posecloud
projects they may see.

Label Studio's community edition has no project permissions a multi-user app can rely on (any
member of an organization reads every project; some endpoints check nothing; a write may name
another project's objects in its body), so every request is checked here:

- its path is canonical (``app.proxying.canonical_path``) and matches one whole route of
  ``ROUTES`` with one of that route's methods: static assets; the pages and API of the user's own
  projects, their tasks, and the annotations, drafts and predictions of those tasks; the data
  manager's views and actions of those projects; the user's own whoami. Everything else (other
  projects, the project list, users and organizations, tokens, webhooks, storages, file serving,
  imports, sign-in pages) is refused with 403;
- every object it names, in the path, in the query (``QUERY_IDS``) and, for a write, in its JSON
  body (``BODY_IDS``, at any depth), belongs to one of the user's projects (looked up in posecloud's
  task records, or in Label Studio by the admin and remembered), else 404; an object that the path
  or query already names may not be named otherwise in the body (no moving an annotation onto
  another task, no view made in another project); user fields may name only the user; a write's
  body must be JSON.

The client's own credentials and cookies are dropped; the request is signed with the user's Label
Studio access token; Label Studio's cookies are not passed back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.proxying import Refused
from app.roles import PERMITS, refusal, role_of
from worker.state.db.models import LabelRecheck, LabelStudioProject, LabelStudioTask, Project, User

PREFIX = "/labelstudio"
ASSETS = ("/static/", "/react-app/")  # where Label Studio's pages load their scripts from, outside PREFIX
DROPPED_REQUEST_HEADERS = {
    "authorization",
    "x-api-key",
    "cookie",
    "host",
    "x-http-method-override",
}  # Content-Length stays: Label Studio reads no chunked bodies
DROPPED_RESPONSE_HEADERS = {"set-cookie"}  # the browser keeps posecloud's session, not Label Studio's
READ = frozenset({"GET", "HEAD", "OPTIONS"})
# query parameters that name an object, and its kind
QUERY_IDS = {
    "project": "project",
    "task": "task",
    "taskID": "task",
    "tabID": "view",
    "view": "view",
    "annotation": "annotation",
    "draft": "draft",
    "prediction": "prediction",
}
# keys of a write's JSON body that name an object, and its kind; ``selectedItems`` (the data
# manager's actions) lists tasks under ``included``/``excluded``
BODY_IDS = {
    "project": "project",
    "project_id": "project",
    "task": "task",
    "task_id": "task",
    "taskID": "task",
    "annotation": "annotation",
    "annotation_id": "annotation",
    "parent_annotation": "annotation",
    "draft": "draft",
    "draft_id": "draft",
    "prediction": "prediction",
    "prediction_id": "prediction",
    "parent_prediction": "prediction",
    "view": "view",
    "tabID": "view",
    "included": "task",
    "excluded": "task",
}
USER_FIELDS = {"completed_by", "updated_by", "created_by", "user", "user_id", "owner"}
NONE = 0  # Label Studio's ids start at 1; its front end sends 0 for "none" (an unsaved tab, no draft)
MAX_BODY_BYTES = 2 * 1024 * 1024  # an annotation of a few hundred keypoints is a few kB


@dataclass
class Access:
    """What one user may reach: the Label Studio projects of their posecloud projects. Each check
    returns the chain of objects it established (kind -> id), project included."""

    session: Session
    ls_user_id: int
    projects: dict[int, int]  # Label Studio project id -> posecloud project id
    # ("annotation" | "draft" | "prediction", id) -> its task; ("view", id) -> its project
    owner_of: Callable[[str, int], int | None]
    # Label Studio project id -> why the user's role may not label there (projects it may are absent)
    read_only: dict[int, str] = field(default_factory=dict)

    def may_write(self, named: dict[str, int]) -> None:
        """Raise Refused unless the user's role may label in the project a write names."""
        if named.get("project") in self.read_only:
            raise Refused(403, self.read_only[named["project"]])

    def owned(self, kind: str, object_id: int) -> dict[str, int]:
        if kind == "project":
            if object_id not in self.projects:
                raise Refused(404, f"Label Studio project {object_id} is not one of your posecloud projects")
            return {"project": object_id}
        if kind == "task":
            task = self.session.get(LabelStudioTask, object_id) or self.session.get(LabelRecheck, object_id)
            ls_project = {v: k for k, v in self.projects.items()}.get(task.project_id) if task else None
            if ls_project is None:
                raise Refused(404, f"task {object_id} is not in one of your posecloud projects")
            return {"task": object_id, "project": ls_project}
        owner = self.owner_of(kind, object_id)
        if owner is None:
            raise Refused(404, f"{kind} {object_id} is not in one of your posecloud projects")
        try:
            parent = self.owned("project" if kind == "view" else "task", owner)
        except Refused:
            raise Refused(404, f"{kind} {object_id} is not in one of your posecloud projects") from None
        return {kind: object_id, **parent}


def access_for(session: Session, visible: list[Project], user: User, ls_user_id: int, owner_of) -> Access:
    """What ``user`` (Label Studio user ``ls_user_id``) may reach of the ``visible`` projects, and
    where their role lets them read only."""
    by_id = {p.id: p for p in visible}
    records = session.scalars(select(LabelStudioProject).where(LabelStudioProject.project_id.in_(by_id)))
    projects = {r.ls_project_id: r.project_id for r in records}
    read_only = {}
    for ls_project, project_id in projects.items():
        role = role_of(by_id[project_id], user)
        if "label" not in PERMITS[role]:
            read_only[ls_project] = refusal(by_id[project_id], role, "label")
    return Access(session, ls_user_id, projects, owner_of, read_only)


@dataclass(frozen=True)
class Route:
    """A whole route: its path pattern (group ``id`` names an object of kind ``kind``), the methods
    open on it, the query parameters it needs, and why a refused method is refused."""

    pattern: str
    methods: frozenset[str]
    kind: str | None = None
    needs: tuple[str, ...] = ()
    refusal: str = "this Label Studio request is not open through posecloud"


def _route(pattern: str, methods: Iterable[str], kind: str | None = None, **kw) -> Route:
    return Route(pattern, frozenset(methods), kind, **kw)


ID = r"(?P<id>[0-9]+)"
NAME = r"[A-Za-z0-9_-]+"
WRITE = ("PATCH", "PUT", "DELETE")
ROUTES = [
    # Label Studio's assets (the same files for everyone)
    _route(r"/(static|react-app|label-studio-frontend|dm-static)/[^?#]+|/favicon\.ico", READ),
    # the single-page app's pages of a project (data manager, labeling, settings)
    _route(
        rf"/projects/{ID}(/{NAME}){{0,2}}/?", READ, "project", refusal="Label Studio's pages are only read"
    ),
    _route(
        rf"/api/projects/{ID}/?",
        READ | {"PATCH"},
        "project",
        refusal="a project is made and deleted in posecloud, not in Label Studio",
    ),
    _route(
        rf"/api/projects/{ID}(/{NAME}){{1,3}}/?",
        READ,
        "project",
        refusal="tasks are made by posecloud (extract frames there); they cannot be imported here",
    ),
    _route(rf"/api/tasks/{ID}/?", READ, "task", refusal="tasks are made and deleted by posecloud"),
    _route(rf"/api/tasks/{ID}/(annotations|drafts)/?", READ | {"POST"}, "task"),
    _route(rf"/api/tasks/{ID}/{NAME}/?", READ, "task"),
    _route(
        r"/api/tasks/?",
        READ,
        needs=("project",),
        refusal="tasks are made by posecloud (extract frames there)",
    ),
    _route(rf"/api/annotations/{ID}/?", READ | set(WRITE), "annotation"),
    _route(rf"/api/annotations/{ID}/{NAME}/?", READ | {"POST"}, "annotation"),
    _route(rf"/api/drafts/{ID}/?", READ | set(WRITE), "draft"),
    _route(rf"/api/predictions/{ID}/?", READ | {"DELETE"}, "prediction"),
    _route(r"/api/predictions/?", READ, needs=("task",), refusal="predictions are made by posecloud's jobs"),
    _route(rf"/api/dm/views/{ID}/?", READ | set(WRITE), "view"),
    _route(r"/api/dm/(views|actions)/?", READ | {"POST"}, needs=("project",)),
    _route(rf"/api/dm/(columns|project|actions/{NAME}/form)/?", READ, needs=("project",)),
    # the project's ML backends and custom-label links, read by the labeling page (posecloud sets none)
    _route(r"/api/(ml|label_links)/?", READ, needs=("project",)),
    _route(r"/api/(current-user/whoami|version)/?", READ),
    _route(rf"/api/users/{ID}/?", READ, "user"),
]
_COMPILED = [(re.compile(r.pattern), r) for r in ROUTES]


def check(method: str, path: str, query: list[tuple[str, str]], access: Access) -> dict[str, int]:
    """Raise Refused unless ``method path?query`` (``path``: canonical, without the prefix) is one
    of ``ROUTES`` and every object it names is the user's; returns the objects it names (kind ->
    id), which a write's body may not contradict (``check_body``)."""
    found = next(((m, route) for pattern, route in _COMPILED if (m := pattern.fullmatch(path))), None)
    if found is None:
        raise Refused(403, f"{method} {PREFIX}{path} is not open through posecloud")
    m, route = found
    if method not in route.methods:
        raise Refused(403, f"{method} {PREFIX}{path}: {route.refusal}")
    named: dict[str, int] = {}
    if route.kind == "user":
        if int(m["id"]) != access.ls_user_id:
            raise Refused(403, "only your own Label Studio user is open through posecloud")
    elif route.kind is not None:
        named |= access.owned(route.kind, int(m["id"]))
    ids = _query_ids(query)
    for key in route.needs:
        if key not in ids:
            raise Refused(403, f"this Label Studio request needs ?{key}=<id> of one of your projects")
    for kind, object_id in ids.values():
        named = _agree(named, access.owned(kind, object_id))
    return named


def _query_ids(query: list[tuple[str, str]]) -> dict[str, tuple[str, int]]:
    """The objects the query names: key -> (kind, id); each at most once, each a plain number."""
    ids: dict[str, tuple[str, int]] = {}
    for key, value in query:
        if key not in QUERY_IDS:
            continue
        if key in ids:
            raise Refused(400, f"?{key}= is given twice; name one object")
        ids[key] = (QUERY_IDS[key], check_id(value, f"?{key}="))
    return {key: named for key, named in ids.items() if named[1] != NONE}


def check_id(value: object, where: str) -> int:
    """``value`` as an object's id: a plain number (an int, or its digits as a string)."""
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"[0-9]{1,18}", value))
    ):
        raise Refused(400, f"{where} must be the number of an object of one of your projects")
    return int(value)


def _agree(named: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    """``named`` and ``more`` together; Refused(404) where they name two objects of one kind (an
    object moved elsewhere, a view made in another project)."""
    for kind, object_id in more.items():
        if named.get(kind, object_id) != object_id:
            raise Refused(404, f"this request names {kind} {named[kind]} and {kind} {object_id}; name one")
    return named | more


def check_body(body: bytes, content_type: str, named: dict[str, int], access: Access) -> dict[str, int]:
    """Raise Refused unless a write's ``body`` is empty or JSON whose every object id belongs to the
    user and agrees with ``named`` (what the path and query name), and whose user fields name only
    the user; returns what the path, query and body name together."""
    if not body.strip():
        return named
    if "json" not in content_type.lower():
        raise Refused(415, "changes to Label Studio go through posecloud as JSON only")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise Refused(400, "the request body is not valid JSON") from None
    for key, value in _items(document):
        if key in USER_FIELDS and value is not None:
            user = value.get("id") if isinstance(value, dict) else value
            if check_id(user, f'"{key}"') != access.ls_user_id:
                raise Refused(403, f'"{key}" may name only you')
        if key in BODY_IDS and value is not None:
            for one in value if isinstance(value, list) else [value]:
                if (object_id := check_id(one, f'"{key}"')) != NONE:
                    named = _agree(named, access.owned(BODY_IDS[key], object_id))
    return named


def _items(document) -> Iterable[tuple[str, object]]:
    """Every (key, value) of every object in a JSON document, at any depth."""
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                yield key, value
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
