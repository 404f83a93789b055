"""The one way in to FiftyOne: ``/fiftyone/<project id>/...`` on the API's port, for signed-in users
who may see that project, each reaching their own FiftyOne server (``app.fiftyone.servers``), which
sees only the project's database.

FiftyOne has no access control of its own, and some of it reaches past the database: ``/media``
serves any file the server can read, built-in operators list folders and download files, and the
App can write (tags, samples, saved views). So every request is checked here against an allow-list
(``check``): the App's pages and assets; the read routes the App's grid, sidebar and modal call;
GraphQL queries and the mutations that only move the session's own view state
(``check_graphql``); the operator list and placements, and running only the two read-only operators
the App runs by itself (``check_operator``). ``/media`` never reaches
FiftyOne: the service serves it from storage, only the project's frames and videos (``media_key``).
"""

from __future__ import annotations

import json
import re

from graphql import GraphQLError, OperationType, parse
from graphql.language import FieldNode, OperationDefinitionNode

from app.proxying import Refused
from worker.fiftyone.plan import MEDIA_ROOT
from worker.state.layout import data_prefix

PREFIX = "/fiftyone"
READ = ("GET", "HEAD")
PAGES = re.compile(r"/(datasets/[^/]+)?/?")
# the App's files; its pages name them relatively, so /datasets/<name> asks for /datasets/assets/...
STATIC = re.compile(
    r"/(datasets/)?(assets/[\w.\-/]+|favicon\.ico|model_evaluation\.svg|404\.html|index\.html)"
)
# POST routes that read: the grid's samples, the sidebar's counts and values, a video's frames,
# the App's event stream (the session's own view state)
READ_POSTS = {
    "/aggregate",
    "/values",
    "/sort",
    "/frames",
    "/events",
    "/event",
    "/tagging",
    "/geo",
    "/video-labels/index",
    "/video-labels/window",
    "/operators",
    "/operators/resolve-placements",
}
READ_GETS = {"/fiftyone", "/features", "/plugins"}
# GraphQL mutations that only set what this server's one session shows (its user's own page)
VIEW_STATE_MUTATIONS = {
    "setDataset",
    "setView",
    "setFieldVisibilityStage",
    "setGroupSlice",
    "setSample",
    "setSelected",
    "setSelectedSamples",
    "setSelectedLabels",
    "setSampleSelectionStyle",
    "setLabelSelectionStyle",
    "setSpaces",
    "searchSelectFields",
}
# what the App runs on opening a dataset: the label schemas and the saved workspaces, both read-only
READ_OPERATORS = {"@voxel51/operators/get_label_schemas", "@voxel51/operators/list_workspaces"}
DROPPED_REQUEST_HEADERS = {"authorization", "cookie", "host", "origin", "referer", "x-http-method-override"}
MAX_BODY_BYTES = 1024 * 1024  # a GraphQL query or an operator's parameters
DROPPED_RESPONSE_HEADERS = {"set-cookie"}  # the browser keeps posecloud's session, not FiftyOne's
# The App covers the grid with an "Explore Enterprise" pop-up until this key is in the page's
# localStorage (its own "Dismiss" sets it); there is no setting for it.
UPSELL_SEEN_KEY = "fiftyone-enterprise-tooltip-seen"


def without_upsell(page: bytes) -> bytes:
    """An App page that marks the pop-up as seen before the App's own scripts run."""
    script = f'<script>localStorage.setItem("{UPSELL_SEEN_KEY}", "true")</script>'.encode()
    return page.replace(b"<head>", b"<head>" + script, 1)


def check(method: str, path: str) -> None:
    """Raise Refused unless ``method path`` (``path``: canonical, without ``/fiftyone/<project>``) is
    one whole route open to ``method``; the bodies of
    ``CHECKED_BODIES`` are checked by their function, ``/media`` by ``media_key``."""
    if method == "OPTIONS":
        return
    if method in READ and (PAGES.fullmatch(path) or STATIC.fullmatch(path) or path in READ_GETS):
        return
    if method in READ and re.fullmatch(r"/plugins/[\w.\-/]*", path):
        return  # the plugins folder of posecloud's FiftyOne is empty
    if method in READ and re.fullmatch(r"/dataset/[\w-]+/groups/[\w-]+(/slices/[\w-]+)?", path):
        return
    if method == "POST" and (path in READ_POSTS or path in CHECKED_BODIES):
        return
    if path.startswith("/operators"):
        raise Refused(403, "FiftyOne's operators are off in posecloud (they can read files and change data)")
    raise Refused(
        403, f"{method} {PREFIX}/<project>{path} is not open through posecloud (FiftyOne is read-only here)"
    )


def check_graphql(body: bytes) -> None:
    """Raise Refused unless ``body`` is one GraphQL request whose mutations only set view state."""
    try:
        request = json.loads(body)
        document = parse(request["query"])
    except (ValueError, KeyError, TypeError, GraphQLError):
        raise Refused(400, "send one GraphQL request as JSON with a 'query'") from None
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if definition.operation == OperationType.SUBSCRIPTION:
            raise Refused(403, "GraphQL subscriptions are not open through posecloud")
        if definition.operation != OperationType.MUTATION:
            continue
        for selection in definition.selection_set.selections:
            if not isinstance(selection, FieldNode) or selection.name.value not in VIEW_STATE_MUTATIONS:
                name = selection.name.value if isinstance(selection, FieldNode) else "a fragment"
                raise Refused(
                    403, f"the GraphQL mutation {name} changes data; FiftyOne is read-only in posecloud"
                )


def check_operator(body: bytes) -> None:
    """Raise Refused unless ``body`` runs one of the read-only operators the App runs on its own."""
    try:
        uri = json.loads(body)["operator_uri"]
    except (ValueError, KeyError, TypeError):
        raise Refused(400, "send the operator to run as JSON with an 'operator_uri'") from None
    if uri not in READ_OPERATORS:
        raise Refused(
            403, f"the operator {uri} is off in posecloud (operators can read files and change data)"
        )


CHECKED_BODIES = {"/graphql": check_graphql, "/operators/execute": check_operator}


def media_key(filepath: str | None, project_id: int, video_keys: set[str]) -> str:
    """The storage key of a ``/media?filepath=`` request of project ``project_id``: one of its
    labeled-data images or one of ``video_keys`` (its videos); Refused(404) for anything else
    (``..``, absolute paths outside the project, other projects), saying nothing of what exists."""
    root = MEDIA_ROOT + "/"
    key = filepath[len(root) :] if filepath and filepath.startswith(root) else ""
    parts = key.split("/")
    clean = key and "\\" not in key and not any(p in ("", ".", "..") for p in parts)
    if clean and (key.startswith(f"{data_prefix(project_id)}/labeled-data/") or key in video_keys):
        return key
    raise Refused(404, "no such media in this project")
