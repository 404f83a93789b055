"""A second user attacks the first through every door: the API (each route of the schema, with the
victim's project, and with the attacker's own project naming the victim's models, videos, jobs and
frames), the FiftyOne proxy (the victim's project, and the attacker's own with every spelling of a
way out) and the front end (its pages and its WebSocket, from a page of another site in Chromium).
Every request is refused, and afterwards the victim's files (label file, frames, videos, models,
predictions) and FiftyOne datasets are byte for byte what they were."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
import urllib.parse
from pathlib import Path

import httpx
import pymongo
from bson import json_util

from app.api.factory import create_app
from app.settings import Settings
from tests import rawhttp
from tests.app.fiftyone.conftest import Toy
from tests.browser import chromium_browser
from worker.fiftyone.database import project_database, project_uri
from worker.state.layout import project_prefix

REFUSED = {400, 401, 403, 404, 405, 413, 422}


def files_digest(root: Path) -> dict[str, str]:
    """Every file under ``root``: path -> SHA-256."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}  # fmt: skip


def datasets_digest(mongo_folder: Path, port: int, project: int) -> str:
    """Every document of every collection of the project's FiftyOne database, hashed in order."""
    with pymongo.MongoClient(project_uri(mongo_folder, "127.0.0.1", port, project)) as client:
        db = client[project_database(project)]
        digest = hashlib.sha256()
        for name in sorted(db.list_collection_names()):
            for doc in db[name].find().sort("_id", 1):
                digest.update(json_util.dumps(doc, sort_keys=True).encode())
        return digest.hexdigest()


def _schema_routes(data_root: Path) -> dict[str, list[str]]:
    app = create_app(Settings(data_root=data_root, database_url="sqlite://", redis_url="redis://127.0.0.1:1"))
    return {path: sorted(ops) for path, ops in app.openapi()["paths"].items() if "{project_id}" in path}


def api_requests(toy: Toy, bobs: int, data_root: Path) -> list[tuple[str, str, dict]]:
    """Each route of the API's schema, with alice's project and her objects' ids; and with bob's own
    project and alice's objects' ids; writes with bodies that name alice's objects."""
    ids = {
        "model_id": toy.models["r18"]["id"],
        "ensemble_id": toy.ensemble["id"],
        "video_id": toy.video_id,
        "job_id": toy.predict_job["id"],
        "name": "labels.csv",
        "image": "labeled-data/img001.png",
        "index": 0,
        "number": 1,  # alice's first label version
        "username": "alice",  # a member to change or remove: the victim herself
    }
    alices = {"model_ids": [ids["model_id"]], "ensemble_ids": [ids["ensemble_id"]], "video_id": ids["video_id"],
              "model_id": ids["model_id"], "ensemble_id": ids["ensemble_id"], "n": 2, "username": "bob",
              "prediction_job_ids": [ids["job_id"]], "frames": [0], "name": "mine", "train": {}, "seeds": [0, 1]}  # fmt: skip
    requests = []
    for template, methods in _schema_routes(data_root / "schema").items():
        for project in (toy.project, bobs):
            if project == bobs and template.count("{") == 1:
                continue  # bob's own project alone: his to use
            path = template.format(project_id=project, **ids)
            for method in methods:
                options = {"json": alices} if method in ("post", "patch", "put") else {}
                if template.endswith("/labels") and method == "put":
                    options = {"params": {"filename": "x.csv"}, "content": b"scorer\n"}
                requests.append((method.upper(), path, options))
    return requests


def fiftyone_requests(toy: Toy, bobs: int) -> list[tuple[str, str, dict]]:
    """alice's project's FiftyOne, and bob's own with ways out to alice's files and the server's."""
    a, b = f"/fiftyone/{toy.project}", f"/fiftyone/{bobs}"
    frame = f"/posecloud-storage/{project_prefix(toy.project)}/data/labeled-data/img001.png"
    requests = [(m, f"{a}{p}", {}) for m in ("GET", "POST") for p in ("/", "/datasets/labeled-frames", "/graphql",
                "/media", "/aggregate", "/events", "/operators", "/assets/index.js")]  # fmt: skip
    for way_out in ("/assets/../media", "/assets/%2e%2e/media", "/assets/..%2fmedia", "/assets/%252e%252e/media",
                    "/datasets/x/..%5c..%5cmedia", "//media", "/media/", "/MEDIA", "/media%00", "/./media",
                    f"/..%2f{toy.project}/media", f"/../{toy.project}/media"):  # fmt: skip
        for filepath in (frame, "/etc/hostname", "../../../mongo/secrets.json"):
            requests.append(("GET", f"{b}{way_out}", {"params": {"filepath": filepath}}))
    requests += [
        ("GET", f"{b}/media", {"params": {"filepath": frame}}),
        (
            "POST",
            f"{b}/operators/execute",
            {"json": {"operator_uri": "@voxel51/operators/list_files", "params": {"path": "/"}}},
        ),  # fmt: skip
        ("POST", f"{b}/graphql", {"json": {"query": 'mutation { deleteSavedView(viewName: "x") }'}}),
        (
            "POST",
            f"{b}/graphql",
            {"content": b"x" * (2 * 1024 * 1024), "headers": {"content-type": "application/json"}},
        ),
    ]
    return requests


def ui_requests(toy: Toy) -> list[tuple[str, str, dict]]:
    """The front end's pages of alice's project and its ways out of the public script bundle."""
    return [
        ("GET", f"/ui/?project={toy.project}", {}),
        ("GET", "/ui/_stcore/health", {}),
        ("GET", "/ui/static/../_stcore/health", {}),
        ("GET", "/ui/static/%2e%2e/_stcore/health", {}),
        ("GET", "/ui/static/..%2f_stcore%2fhealth", {}),
        ("GET", "/ui/static/%252e%252e/_stcore/health", {}),
        ("GET", "/ui/static/..%5c_stcore/health", {}),
        ("GET", "/ui/static/./../_stcore/host-config", {}),
        ("POST", "/ui/_stcore/upload_file/x", {"content": b"x"}),
        ("GET", f"/fiftyone/{toy.project}/", {}),
        ("GET", f"/projects/{toy.project}/labels", {}),
        ("GET", "/labelstudio/api/projects/", {}),
    ]


def test_a_second_user_gets_nothing_of_the_first_users_project(toy: Toy, mongo, tmp_path: Path) -> None:
    root = toy.api.data_root
    victim = root / project_prefix(toy.project)
    before = (files_digest(victim), datasets_digest(mongo.folder, mongo.port, toy.project))
    token, browser = toy.api.sign_in("mallory-the-second")
    with toy.api.client(token) as bob:
        bobs = bob.post("/projects", json={"name": "mine", "keypoints": ["nose"]}).json()["id"]
    port = httpx.URL(toy.api.url).port
    # bob with his token, and with his browser's session cookie (what the proxies and pages take)
    as_bob = [
        {"Authorization": f"Bearer {token}"},
        {"Cookie": f"posecloud_session={browser.cookies['posecloud_session']}"},
    ]
    requests = api_requests(toy, bobs, tmp_path) + fiftyone_requests(toy, bobs)
    anonymous_requests = ui_requests(toy)
    allowed = []
    for method, path, options in requests:
        for auth in as_bob:
            answer = _raw(port, method, path, options, auth)
            if answer.status not in REFUSED or str(root).encode() in answer.body:
                allowed.append((method, path, answer.status, answer.body[:200]))
    for method, path, options in anonymous_requests:
        answer = _raw(port, method, path, options, {"Accept": "text/html"})
        if answer.status not in REFUSED and not (
            answer.status == 303 and "/signin" in answer.headers["location"]
        ):
            allowed.append((method, path, answer.status, answer.body[:200]))
    assert not allowed, allowed
    assert len(as_bob) * len(requests) + len(anonymous_requests) >= 150
    assert (files_digest(victim), datasets_digest(mongo.folder, mongo.port, toy.project)) == before


def _raw(port: int, method: str, path: str, options: dict, auth: dict[str, str]) -> rawhttp.Answer:
    """``path`` sent as written (an HTTP client would resolve its dot segments first)."""
    target = path + ("?" + urllib.parse.urlencode(options["params"]) if "params" in options else "")
    headers = dict(auth) | options.get("headers", {})
    body = options.get("content")
    if "json" in options:
        body, headers["Content-Type"] = json.dumps(options["json"]).encode(), "application/json"
    return rawhttp.send(port, method, target.encode(), headers, body)


OPEN_STREAM = """url => new Promise(done => {
    const ws = new WebSocket(url, ["streamlit"]);
    ws.onopen = () => { ws.close(); done("opened"); };
    ws.onclose = () => done("refused");
})"""


def test_a_page_of_another_site_cannot_drive_the_front_end_with_the_users_cookie(
    toy: Toy, tmp_path: Path
) -> None:
    """alice is signed in; a page elsewhere (same host, another port: her cookie goes with its
    requests) opens the front end's WebSocket: refused. From posecloud's own page it opens."""
    (tmp_path / "index.html").write_text("<html><body>elsewhere</body></html>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    elsewhere = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=elsewhere.serve_forever, daemon=True).start()
    stream = toy.api.url.replace("http://", "ws://") + "/ui/_stcore/stream"
    try:
        with chromium_browser() as chromium:
            page = chromium.new_context().new_page()
            page.goto(f"{toy.api.url}/signin")
            page.fill("#username", "alice")
            page.fill("#password", "correct horse")
            page.click("button[value=signin]")
            page.wait_for_url("**/ui/**")
            assert page.evaluate(OPEN_STREAM, stream) == "opened"
            page.goto(f"http://127.0.0.1:{elsewhere.server_address[1]}/index.html")
            assert page.evaluate(OPEN_STREAM, stream) == "refused"
    finally:
        elsewhere.shutdown()
