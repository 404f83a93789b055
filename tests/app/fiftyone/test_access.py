"""Who reaches FiftyOne and what it lets through: nobody without a posecloud session; another user
gets 404 for the project's pages, GraphQL, media and operators; the owner's ``/media`` is only the
project's frames and videos (no ``..``, absolute paths or other projects); operators, data-changing
GraphQL mutations and write routes are refused; each project's MongoDB user reads only its own
database; each user gets a FiftyOne server of their own."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import httpx
import pymongo
import pytest
from pymongo.errors import OperationFailure

from app.fiftyone.mongo import MongoServer
from app.fiftyone.proxy import without_upsell
from tests.app.fiftyone.conftest import Toy
from tests.testdata import TOY
from worker.fiftyone.database import project_database, project_uri

IMAGE = "labeled-data/img01.png"
QUERY = {"query": "query { estimatedDatasetCount }"}


def frame_path(project: int, image: str = IMAGE) -> str:
    return f"/posecloud-storage/projects/{project}/data/{image}"


def requests(project: int) -> list[tuple[str, str, dict]]:
    """One of each kind of request to a project's FiftyOne: ``(method, path, options)``."""
    p = f"/fiftyone/{project}"
    return [
        ("GET", f"{p}/", {}),
        ("GET", f"{p}/datasets/labeled-frames?proxy={p}", {}),
        ("GET", f"{p}/assets/index.js", {}),
        ("POST", f"{p}/graphql", {"json": QUERY}),
        ("GET", f"{p}/media", {"params": {"filepath": frame_path(project)}}),
        ("POST", f"{p}/operators/execute", {"json": {"operator_uri": "@voxel51/operators/list_files"}}),
        ("POST", f"{p}/operators", {"json": {}}),
        ("POST", f"{p}/aggregate", {"json": {}}),
        ("POST", f"{p}/events", {"json": {}}),
    ]


@pytest.fixture(scope="module")
def alice(toy: Toy) -> httpx.Client:
    """alice's browser: the session cookie of signing in to posecloud."""
    browser = httpx.Client(base_url=toy.api.url, timeout=120)
    assert (
        browser.post("/auth/login", data={"username": "alice", "password": "correct horse"}).status_code
        == 200
    )
    yield browser
    browser.close()


def test_nobody_reaches_fiftyone_without_a_posecloud_session(toy: Toy) -> None:
    with httpx.Client(base_url=toy.api.url, timeout=60) as anonymous:
        for method, path, options in requests(toy.project):
            resp = anonymous.request(method, path, **options)
            assert resp.status_code == 401, (method, path, resp.text)
        assert anonymous.get(f"/projects/{toy.project}/fiftyone").status_code == 401
        stolen = anonymous.get(f"/fiftyone/{toy.project}/", cookies={"posecloud_session": "forged"})
        assert stolen.status_code == 401


def test_another_user_gets_404_for_everything_of_the_project(toy: Toy) -> None:
    token, browser = toy.api.sign_in("mallory")
    with toy.api.client(token) as bearer:
        for client in (browser, bearer):
            for method, path, options in requests(toy.project):
                resp = client.request(method, path, **options)
                assert resp.status_code == 404, (method, path, resp.text)
                assert "FiftyOne" not in resp.text and "labeled-frames" not in resp.text


def test_the_owner_opens_pages_graphql_frames_and_videos(toy: Toy, alice: httpx.Client) -> None:
    p = f"/fiftyone/{toy.project}"
    page = alice.get(f"{p}/datasets/labeled-frames")
    assert page.status_code == 307 and page.headers["location"] == f"{p}/datasets/labeled-frames?proxy={p}"
    page = alice.get(page.headers["location"])
    assert page.status_code == 200 and "<html" in page.text.lower()
    # the App's page, changed only to hide its advertisement pop-up; its length is the new one
    app_files = Path(importlib.util.find_spec("fiftyone").origin).parent / "server" / "static"
    installed = (app_files / "index.html").read_bytes()
    assert page.content == without_upsell(installed) != installed
    assert int(page.headers["content-length"]) == len(page.content)
    resp = alice.post(f"{p}/graphql", json=QUERY)
    assert resp.status_code == 200 and resp.json()["data"]["estimatedDatasetCount"] == 2, resp.text
    frame = alice.get(f"{p}/media", params={"filepath": frame_path(toy.project)})
    assert frame.status_code == 200 and frame.content == (TOY / IMAGE).read_bytes()
    with toy.client() as c:
        video = c.get(f"/projects/{toy.project}/videos/{toy.video_id}").json()
    assert video["transcoded"]
    part = alice.get(f"{p}/media", params={"filepath": transcoded(toy)}, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100, part.text


def transcoded(toy: Toy) -> str:
    """The media path of the clip's transcoded copy, as the dataset names it."""
    root = toy.api.data_root / "storage"
    (path,) = (root / "projects" / str(toy.project) / "videos").rglob("*.cfr.mp4")
    return "/posecloud-storage/" + path.relative_to(root).as_posix()


@pytest.mark.parametrize(
    "filepath",
    [
        "/etc/passwd",
        "/posecloud-storage/../etc/passwd",
        "/posecloud-storage/projects/{p}/data/labeled-data/../../../../../etc/passwd",
        "/posecloud-storage/projects/{p}/data/labeled-data/../CollectedData.csv",
        "/posecloud-storage/projects/{p}/data/labeled-data//img01.png",
        "/posecloud-storage//etc/passwd",
        "/posecloud-storage/projects/{p}/models/1/config.yaml",
        "/posecloud-storage/projects/{other}/data/labeled-data/img01.png",
        "{root}/mongo/secrets.json",
        "{root}/storage/projects/{p}/data/labeled-data/img01.png",
        "",
    ],
)
def test_media_is_only_the_projects_frames_and_videos(toy: Toy, alice: httpx.Client, filepath: str) -> None:
    path = filepath.format(p=toy.project, other=toy.project + 1, root=toy.api.data_root)
    resp = alice.get(f"/fiftyone/{toy.project}/media", params={"filepath": path})
    assert resp.status_code == 404 and resp.json() == {"detail": "no such media in this project"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (
            "POST",
            "/operators/execute",
            {"operator_uri": "@voxel51/operators/list_files", "params": {"path": "/"}},
        ),
        ("POST", "/operators/execute/generator", {"operator_uri": "@voxel51/operators/download_file"}),
        ("POST", "/operators/resolve-type", {"operator_uri": "@voxel51/operators/list_files"}),
        (
            "POST",
            "/operators/resolve-execution-options",
            {"operator_uri": "@voxel51/operators/delete_samples"},
        ),
        ("POST", "/tag", {"dataset": "labeled-frames", "changes": {"bad": "add"}}),
        ("PATCH", "/dataset/x/sample/y", [{"op": "remove", "path": "/ground_truth"}]),
        ("POST", "/screenshot/x.png", {}),
        ("GET", "/runtime-assets/models/x/y", None),
        ("POST", "/media", {}),
        ("GET", "/media/../../etc/passwd", None),
    ],
)
def test_operators_and_writes_are_refused(
    toy: Toy, alice: httpx.Client, method: str, path: str, body
) -> None:
    resp = alice.request(method, f"/fiftyone/{toy.project}{path}", json=body)
    assert resp.status_code in (403, 404, 422), (path, resp.text)  # 422: a path no route has
    assert resp.json()["detail"] and "root:" not in resp.text


@pytest.mark.parametrize(
    "query",
    [
        'mutation { createSavedView(subscription: "s", session: null, viewName: "x", viewStages: []) { id } }',
        'mutation { deleteSavedView(subscription: "s", session: null, viewName: "r18 train") }',
        'mutation { renamed: deleteSavedView(subscription: "s", session: null, viewName: "r18 train") }',
        'mutation { setView(subscription: "s", session: null, view: [], datasetName: "labeled-frames") { id } '
        'deleteSavedView(subscription: "s", session: null, viewName: "r18 train") }',
        'mutation { ...f } fragment f on Mutation { deleteSavedView(subscription: "s", session: null, viewName: "x") }',
        "subscription { x }",
    ],
)
def test_graphql_mutations_that_change_data_are_refused(toy: Toy, alice: httpx.Client, query: str) -> None:
    resp = alice.post(f"/fiftyone/{toy.project}/graphql", json={"query": query})
    assert resp.status_code == 403, resp.text


def test_graphql_that_is_not_one_request_is_refused(toy: Toy, alice: httpx.Client) -> None:
    for body in (
        b"[" + b'{"query": "query { estimatedDatasetCount }"}' + b"]",
        b"not json",
        b'{"query": "{"}',
    ):
        resp = alice.post(f"/fiftyone/{toy.project}/graphql", content=body)
        assert resp.status_code == 400, resp.text


def test_a_projects_mongo_user_reads_only_its_own_database(toy: Toy, mongo: MongoServer) -> None:
    other = toy.project + 1  # another project's user and database
    mongo.ensure_project_user(other)
    with pymongo.MongoClient(project_uri(mongo.folder, mongo.host, mongo.port, other)) as client:
        client[project_database(other)].probe.insert_one({"secret": 1})
    with pymongo.MongoClient(project_uri(mongo.folder, mongo.host, mongo.port, toy.project)) as client:
        assert "datasets" in client[project_database(toy.project)].list_collection_names()
        for database in (project_database(other), "admin", "fiftyone"):
            with pytest.raises(OperationFailure, match="not authorized"):
                client[database].list_collection_names()
        with pytest.raises(OperationFailure, match="not authorized"):
            client[project_database(other)].probe.find_one()
        assert client.list_database_names() == [project_database(toy.project)]  # only its own
    with (
        pymongo.MongoClient(f"mongodb://{mongo.host}:{mongo.port}/") as anonymous,
        pytest.raises(OperationFailure),
    ):
        anonymous[project_database(toy.project)].list_collection_names()


def test_each_user_has_a_fiftyone_server_of_their_own(toy: Toy, alice: httpx.Client) -> None:
    _, carol = toy.api.sign_in("carol")
    with toy.client() as c:
        assert c.post(f"/projects/{toy.project}/members", json={"username": "carol"}).status_code == 201
    assert carol.post(f"/fiftyone/{toy.project}/graphql", json=QUERY).status_code == 200
    assert alice.post(f"/fiftyone/{toy.project}/graphql", json=QUERY).status_code == 200
    logs = sorted(p.name for p in (toy.api.data_root / "fiftyone").glob(f"server-u*-p{toy.project}.log"))
    assert len(logs) == 2, logs  # alice's and carol's: never one view state for two users
