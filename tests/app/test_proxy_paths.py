"""No path reaches past the proxies' allow-lists, whatever its spelling.

Generated requests (Hypothesis) start from the routes the allow-lists open and add every spelling
of ``.`` and ``..``, encoded and double-encoded separators, NULs, overlong UTF-8, mixed case,
empty segments, trailing slashes and query tricks; they are sent as raw bytes to the real service
(uvicorn), signed in as alice. What reaches the server behind each proxy is recorded on the wire
(``tests.recording``): for Label Studio, a relay in front of the real Label Studio; for FiftyOne,
a recording server standing in for the user's FiftyOne server. Every recorded request must be a
canonical path (nothing left to decode or resolve) of an allowed route, naming only alice's own
objects — in its path, query and body.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.api.factory import create_app
from app.labelstudio.server import LabelStudioServer
from app.proxying import Refused, canonical_path, upstream_target
from app.redis_server import RedisServer
from app.settings import Settings
from tests import rawhttp
from tests.recording import Recorder, Seen
from tests.testdata import EXAMPLE_PROJECT

EXAMPLES = 300  # per test; two tests per proxy: 600 generated requests each


# --- the canonical path on its own --------------------------------------------------------------

DOTS = [".", "..", "%2e", "%2E", "%2e%2e", "%2E%2e", ".%2e", "%2e.", "...", "%252e%252e", "%c0%ae%c0%ae"]
SEPARATORS = ["/", "%2f", "%2F", "%5c", "%5C", "\\", "%252f", "//", "/%2f/"]
OTHERS = ["api", "projects", "static", "assets", "media", "users", "1", "2", "%00", "%0a", "%e2%80%ae",
          "%3f", "%23", "a%20b", "%", "%zz", "%c3%a9", "x;y", "~"]  # fmt: skip


@st.composite
def raw_paths(draw, prefixes: list[str]) -> bytes:
    """A prefix the allow-list opens, then segments and separators in every spelling."""
    parts = [draw(st.sampled_from(prefixes))]
    for _ in range(draw(st.integers(0, 5))):
        parts.append(draw(st.sampled_from(SEPARATORS)))
        parts.append(draw(st.sampled_from(DOTS + OTHERS)))
    if draw(st.booleans()):
        parts.append("/")
    return "".join(parts).encode("latin-1")


@given(raw_paths(["/labelstudio/static", "/fiftyone/1/assets", "/ui/static", "/projects/1"]))
@settings(max_examples=500, deadline=None)
def test_a_canonical_path_has_nothing_left_to_decode_or_resolve(raw: bytes) -> None:
    try:
        path = canonical_path(raw)
    except Refused as e:
        assert e.status == 400
        return
    segments = path.split("/")[1:]
    assert not {".", ".."} & set(segments) and "" not in segments[:-1]
    assert not re.search(r"[\x00-\x1f\x7f\\?#%]", path)
    target = upstream_target(path)
    # the upstream request is exactly that path: the HTTP client resolves nothing, a server that
    # decodes it once reads the same path, and decoding it again changes nothing
    assert httpx.URL("http://127.0.0.1:1" + target).raw_path.decode() == target
    assert urllib.parse.unquote(target) == path
    assert urllib.parse.unquote(urllib.parse.unquote(target)) == path


@pytest.mark.parametrize(
    "raw",
    [
        b"/labelstudio/static/../api/projects",
        b"/labelstudio/static/%2e%2e/api/projects",
        b"/labelstudio/static/..%2fapi%2fprojects",
        b"/labelstudio/static/%252e%252e/api/projects",
        b"/fiftyone/1/assets/../media",
        b"/fiftyone/1/assets/%2E%2e/media",
        b"/ui/static/..%5c..%5capi",
        b"/labelstudio//api/projects",
        b"/labelstudio/api/projects%00",
        b"/labelstudio/api/%c0%ae%c0%ae/x",
    ],
)
def test_the_reported_spellings_are_refused(raw: bytes) -> None:
    with pytest.raises(Refused) as e:
        canonical_path(raw)
    assert e.value.status == 400


# --- through the real service ------------------------------------------------------------------


def send(port: int, method: str, target: bytes, cookie: str, body: bytes | None = None) -> int:
    """One raw request with the session cookie (and a JSON body); its status code."""
    headers = {"Cookie": f"posecloud_session={cookie}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return rawhttp.send(port, method, target, headers, body).status


@dataclass
class Service:
    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    server: uvicorn.Server | None = None


def serve(app, port: int) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    return server


def service_settings(tmp: Path, redis_server: RedisServer, port: int, **extra) -> Settings:
    return Settings(
        data_root=tmp / "data",
        database_url=f"sqlite:///{tmp / 'posecloud.db'}",
        redis_url=redis_server.url,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        public_url=f"http://127.0.0.1:{port}",
        **extra,
    )


def sign_in(client: httpx.Client, username: str) -> str:
    client.post("/auth/register", json={"username": username, "password": "correct horse"})
    resp = client.post("/auth/login", data={"username": username, "password": "correct horse"})
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


# --- Label Studio -------------------------------------------------------------------------------


@dataclass
class Objects:
    """One user's Label Studio objects."""

    project: int
    tasks: list[int]
    annotations: list[int]
    views: list[int]

    def of(self, kind: str) -> set[int]:
        return {"project": {self.project}, "task": set(self.tasks), "annotation": set(self.annotations),
                "view": set(self.views)}[kind]  # fmt: skip


@pytest.fixture(scope="module")
def ls_service(
    tmp_path_factory, redis_server: RedisServer, labelstudio: LabelStudioServer, api_port: int, toy_labels_zip
) -> Iterator[tuple[Service, Recorder, Objects, Objects]]:
    """The service in front of a relay to the real Label Studio: alice's and bob's projects, each
    with the toy labels in Label Studio (90 tasks with annotations) and a data-manager view."""
    tmp = tmp_path_factory.mktemp("ls-paths")
    with Recorder(upstream_port=labelstudio.port) as relay:
        config = service_settings(
            tmp, redis_server, api_port, labelstudio_port=relay.port, labelstudio_data=labelstudio.folder,
            labelstudio_sync_s=3600,
        )  # fmt: skip
        service = Service(api_port, server=serve(create_app(config), api_port))
        objects = []
        with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=120) as client:
            for user in ("alice", "bob"):
                token = sign_in(client, user)
                service.cookies[user] = client.cookies["posecloud_session"]
                client.cookies.clear()
                auth = {"Authorization": f"Bearer {token}"}
                body = {k: yaml.safe_load(EXAMPLE_PROJECT.read_text())[k] for k in ("name", "keypoints")}
                project = client.post("/projects", json=body, headers=auth).json()["id"]
                labels = toy_labels_zip.read_bytes()
                resp = client.put(
                    f"/projects/{project}/labels?filename=toy.zip", content=labels, headers=auth
                )
                assert resp.status_code == 200, resp.text
                ls = client.post(f"/projects/{project}/labeling", headers=auth).json()["ls_project_id"]
                own = {"cookies": {"posecloud_session": service.cookies[user]}}
                tasks = client.get(f"/labelstudio/api/tasks?project={ls}&page_size=100", **own).json()
                tasks = tasks["tasks"] if isinstance(tasks, dict) else tasks
                annotations = [a["id"] for t in tasks[:3] for a in
                               client.get(f"/labelstudio/api/tasks/{t['id']}/annotations/", **own).json()]  # fmt: skip
                view = client.post(f"/labelstudio/api/dm/views?project={ls}", json={"project": ls}, **own)
                assert view.status_code == 201, view.text
                objects.append(Objects(ls, [t["id"] for t in tasks], annotations, [view.json()["id"]]))
        assert all(o.tasks and o.annotations for o in objects)
        relay.take()
        yield service, relay, objects[0], objects[1]
        service.server.should_exit = True


# where an object's id sits in a Label Studio path, and in a query or a body
LS_PATH_IDS = [
    (re.compile(r"/(api/)?projects/([0-9]+)"), "project"),
    (re.compile(r"/api/tasks/([0-9]+)"), "task"),
    (re.compile(r"/api/annotations/([0-9]+)"), "annotation"),
    (re.compile(r"/api/dm/views/([0-9]+)"), "view"),
]
LS_QUERY_IDS = {"project": "project", "task": "task", "taskID": "task", "tabID": "view", "view": "view"}
LS_BODY_IDS = {"project": "project", "task": "task", "view": "view", "annotation": "annotation"}
# the only ways into Label Studio: assets, a project's pages and API, its tasks, annotations, drafts,
# predictions, data-manager views and actions, who am I
LS_OPEN = re.compile(
    r"/(static|react-app|label-studio-frontend|dm-static)/.+|/favicon\.ico|/projects/[0-9]+(/.*)?"
    r"|/api/(projects|tasks|annotations|drafts|predictions|dm/views)/[0-9]+(/.*)?"
    r"|/api/(tasks|predictions|dm/views|dm/actions|dm/columns|dm/project|ml|label_links|version)/?"
    r"|/api/dm/actions/[\w-]+/form/?|/api/current-user/whoami/?|/api/users/[0-9]+/?"
)


def assert_alices(seen: Seen, alice: Objects, bob: Objects, alice_ls_user: int) -> None:
    """``seen`` (what reached Label Studio with alice's token) is canonical, open, and names alice's
    project, tasks and views and none of bob's objects."""
    raw_path, _, query = seen.target.partition(b"?")
    path = canonical_path(raw_path)  # raises for anything left to decode or resolve
    assert upstream_target(path).encode() == raw_path, seen.target
    assert LS_OPEN.fullmatch(path), seen.target
    named = [(kind, int(m[m.lastindex])) for pattern, kind in LS_PATH_IDS for m in pattern.finditer(path)]
    pairs = urllib.parse.parse_qsl(query.decode(), keep_blank_values=True)
    named += [(LS_QUERY_IDS[k], int(v)) for k, v in pairs if k in LS_QUERY_IDS]
    if seen.body.strip():
        document = json.loads(seen.body)
        named += [(LS_BODY_IDS[k], int(v)) for k, v in _pairs(document) if k in LS_BODY_IDS and v is not None]
    if m := re.fullmatch(r"/api/users/([0-9]+)/?", path):
        assert int(m[1]) == alice_ls_user
    for kind, object_id in named:
        assert object_id not in bob.of(kind), (kind, seen.method, seen.target, seen.body)
        if kind != "annotation":  # alice's annotations beyond her first tasks' are not listed
            assert object_id in alice.of(kind), (kind, seen.method, seen.target, seen.body)


def _pairs(document):
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield from node.items()
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


@st.composite
def ls_requests(draw, alice: Objects, bob: Objects) -> tuple[str, bytes, bytes | None, bool]:
    """A method, a raw target and a JSON body: an allowed route of alice's, bent towards bob's.
    A third are alice's own plain reads, which must reach Label Studio."""
    plain = draw(st.integers(0, 2)) == 0
    users = [alice] if plain else [alice, bob]
    ids = {
        "project": draw(st.sampled_from([u.project for u in users])),
        "task": draw(st.sampled_from([t for u in users for t in u.tasks[:2]])),
        "annotation": draw(st.sampled_from([a for u in users for a in u.annotations[:2]])),
        "view": draw(st.sampled_from([v for u in users for v in u.views])),
    }
    prefixes = [
        "/labelstudio/static", "/labelstudio/react-app", "/static", "/labelstudio/projects/{project}",
        "/labelstudio/api/projects/{project}", "/labelstudio/api/tasks/{task}",
        "/labelstudio/api/tasks/{task}/annotations", "/labelstudio/api/annotations/{annotation}",
        "/labelstudio/api/dm/views/{view}", "/labelstudio/api/dm/views", "/labelstudio/api/tasks",
        "/labelstudio/api/current-user/whoami", "/labelstudio/api/dm/actions",
    ]  # fmt: skip
    routes = [p.format(**ids) for p in prefixes]
    if plain:
        own = [
            "/labelstudio/api/projects/{project}", "/labelstudio/api/tasks/{task}",
            "/labelstudio/api/tasks/{task}/annotations", "/labelstudio/api/annotations/{annotation}",
            "/labelstudio/api/dm/views/{view}", "/labelstudio/projects/{project}/data",
            "/labelstudio/api/current-user/whoami", "/labelstudio/api/tasks/?project={project}",
            "/labelstudio/api/dm/views?project={project}", "/labelstudio/api/dm/columns?project={project}",
        ]  # fmt: skip
        target = draw(st.sampled_from(own)).format(**ids).encode()
        return draw(st.sampled_from(["GET", "HEAD"])), target, None, True
    path = draw(raw_paths(routes))
    tail = [*OTHERS[:6], "users", "token", "organizations", "webhooks", "data", "local-files", "export",
            "import", "storages", "projects", str(bob.project), "annotations", "drafts"]  # fmt: skip
    if draw(st.booleans()):  # walk on after the tricks, towards another route
        path += "/".join(["", *draw(st.lists(st.sampled_from(tail), max_size=3))]).encode()
    queries = [
        f"project={alice.project}", f"project={bob.project}", f"project={alice.project}%26project={bob.project}",
        f"project={alice.project}&project={bob.project}", f"task={bob.tasks[0]}", f"tabID={bob.views[0]}",
        f"view={ids['view']}", "project=%2e%2e", "d=../../../etc/hostname", "project=%20" + str(alice.project),
        "page_size=1000", "id=delete_tasks",
    ]  # fmt: skip
    query = draw(st.lists(st.sampled_from(queries), max_size=2))
    target = path + (b"?" + "&".join(query).encode() if query else b"")
    method = draw(st.sampled_from(["GET", "GET", "POST", "PATCH", "DELETE", "PUT", "HEAD"]))
    bodies = [
        {"result": []}, {"project": alice.project, "task": alice.tasks[0]}, {"task": bob.tasks[0]},
        {"project": bob.project}, {"project": str(bob.project)}, {"data": {"task": bob.tasks[1]}},
        {"selectedItems": {"all": False, "included": [bob.tasks[0]]}}, {"completed_by": 1},
        {"draft_id": None, "parent_annotation": bob.annotations[0]},
    ]  # fmt: skip
    body = json.dumps(draw(st.sampled_from(bodies))).encode() if method in ("POST", "PATCH", "PUT") else None
    return method, target, body, False


def attack_with(requests, port: int, cookie: str, take, check) -> tuple[list, list]:
    """Send each generated request (method, raw target, body, plain) as the owner of ``cookie``;
    ``take()`` is what reached the server behind the proxy since, ``check(request, status, seen)``
    judges it. Returns what was sent and what reached."""
    sent, reached = [], []

    @given(requests)
    @settings(max_examples=2 * EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def attack(request) -> None:
        method, target, body, plain = request
        status = send(port, method, target, cookie, body)
        sent.append((method, target, status))
        seen = take()
        assert seen or not plain or status == 307, f"the user's own {method} {target!r} was refused: {status}"
        check(request, status, seen)
        reached.extend(seen)

    attack()
    assert len(sent) >= 500
    return sent, reached


def test_label_studio_is_reached_only_on_canonical_routes_of_the_users_own_objects(ls_service) -> None:
    service, relay, alice, bob = ls_service
    with httpx.Client(base_url=f"http://127.0.0.1:{service.port}", cookies={"posecloud_session": service.cookies["alice"]}) as c:  # fmt: skip
        alice_ls_user = c.get("/labelstudio/api/current-user/whoami").json()["id"]
    relay.take()

    def alices_requests() -> list[Seen]:  # alice's requests, not the admin's
        return [s for s in relay.take() if s.headers.get("authorization", "").startswith("Bearer")]

    def check(_request, _status: int, seen: list[Seen]) -> None:
        for one in seen:
            assert_alices(one, alice, bob, alice_ls_user)

    sent, reached = attack_with(
        ls_requests(alice, bob), service.port, service.cookies["alice"], alices_requests, check
    )
    # the generator reaches Label Studio too, so the assertions above were tested on real traffic
    assert len(reached) >= 20, f"only {len(reached)} of {len(sent)} requests were forwarded"


# --- FiftyOne -----------------------------------------------------------------------------------


class StandIn:
    """In place of the per-user FiftyOne servers: every project's server is the recorder."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.asked: list[tuple[int, int]] = []
        self.recorder: Recorder | None = None

    def server(self, user_id: int, project_id: int) -> StandIn:
        self.asked.append((user_id, project_id))
        return self

    def stop_idle(self) -> list:  # the service's idle watch: nothing runs, so nothing to stop
        return []

    def stop_all(self) -> None:
        pass


@pytest.fixture(scope="module")
def fo_service(tmp_path_factory, redis_server: RedisServer) -> Iterator[tuple[Service, StandIn, int, int]]:
    """The service with a recording stand-in for FiftyOne; alice's and bob's projects."""
    tmp = tmp_path_factory.mktemp("fo-paths")
    port = _free_port()
    with Recorder() as recorder:
        app = create_app(service_settings(tmp, redis_server, port))
        app.state.fiftyone = stand_in = StandIn(recorder.port)
        service = Service(port, server=serve(app, port))
        projects = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for user in ("alice", "bob"):
                auth = {"Authorization": f"Bearer {sign_in(client, user)}"}
                service.cookies[user] = client.cookies["posecloud_session"]
                client.cookies.clear()
                projects.append(client.post("/projects", json={"name": user, "keypoints": ["nose"]},
                                            headers=auth).json()["id"])  # fmt: skip
        stand_in.recorder = recorder
        yield service, stand_in, projects[0], projects[1]
        service.server.should_exit = True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# what FiftyOne is asked for through posecloud: its pages and assets, and the App's read routes
FO_OPEN = re.compile(
    r"/(datasets/[^/]+)?/?|/(datasets/)?(assets/[\w.\-/]+|favicon\.ico|model_evaluation\.svg|404\.html"
    r"|index\.html)|/(fiftyone|features|plugins)|/plugins/[\w.\-/]*|/dataset/[\w-]+/groups/[\w-]+(/slices/[\w-]+)?"
    r"|/(aggregate|values|sort|frames|events|event|tagging|geo|video-labels/index|video-labels/window"
    r"|operators|operators/resolve-placements|graphql|operators/execute)"
)


@st.composite
def fo_requests(draw, alice: int, bob: int) -> tuple[str, bytes, bytes | None, bool]:
    """A method, a raw target and a body; a third are alice's own plain requests."""
    if draw(st.integers(0, 2)) == 0:
        method, route, body = draw(st.sampled_from([
            ("GET", "/", None), ("GET", f"/datasets/labeled-frames?proxy=/fiftyone/{alice}", None),
            ("GET", "/assets/index.js", None), ("GET", "/fiftyone", None), ("GET", "/plugins", None),
            ("POST", "/graphql", b'{"query": "query { estimatedDatasetCount }"}'), ("POST", "/aggregate", b"{}"),
        ]))  # fmt: skip
        return method, f"/fiftyone/{alice}{route}".encode(), body, True
    project = draw(st.sampled_from([alice, alice, bob]))
    prefixes = [f"/fiftyone/{project}{p}" for p in
                ["/assets", "/datasets/labeled-frames", "/datasets/assets", "/plugins", "", "/graphql"]]  # fmt: skip
    path = draw(raw_paths(prefixes) | st.sampled_from(prefixes).map(lambda p: (p + "/").encode()))
    if draw(st.booleans()):
        tail = ["media", "operators", "execute", "etc", "hostname", "secrets.json", str(bob), "fiftyone"]
        path += "/".join(["", *draw(st.lists(st.sampled_from(tail), max_size=3))]).encode()
    query = draw(
        st.sampled_from(["", "?filepath=/etc/hostname", f"?proxy=/fiftyone/{alice}", "?filepath=%2e%2e"])
    )
    method = draw(st.sampled_from(["GET", "GET", "POST", "DELETE", "PUT", "HEAD"]))
    body = None
    if method == "POST":
        body = json.dumps(draw(st.sampled_from([
            {"query": "query { estimatedDatasetCount }"}, {"query": "mutation { deleteSavedView(viewName: \"x\") }"},
            {"operator_uri": "@voxel51/operators/list_files"}, {"filepath": "/etc/hostname"},
        ]))).encode()  # fmt: skip
    return method, path + query.encode(), body, False


def test_fiftyone_is_reached_only_on_canonical_routes_of_the_users_own_project(fo_service) -> None:
    service, stand_in, alice, bob = fo_service

    def check(request, status: int, seen: list[Seen]) -> None:
        method, target, _body, _plain = request
        if target.split(b"?")[0].startswith(f"/fiftyone/{bob}/".encode()):
            assert status in (400, 404), (method, target, status)
        for one in seen:
            raw_path = one.target.partition(b"?")[0]
            path = canonical_path(raw_path)
            assert upstream_target(path).encode() == raw_path, one.target
            assert FO_OPEN.fullmatch(path), one.target
            assert path != "/media" and b"filepath" not in one.body, one.target
            if path == "/graphql":
                assert b"mutation" not in one.body, one.body
            if path == "/operators/execute":
                assert b"list_files" not in one.body, one.body

    sent, reached = attack_with(
        fo_requests(alice, bob), service.port, service.cookies["alice"], stand_in.recorder.take, check
    )
    assert len(reached) >= 10, f"only {len(reached)} of {len(sent)} requests were forwarded"
    # only alice's own server of her own project was ever asked for
    assert len(set(stand_in.asked)) == 1 and stand_in.asked[0][1] == alice
