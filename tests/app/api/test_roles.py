"""Project roles on every route: each route of a project is in the role table (a new route without a
rule fails here first), and each role gets exactly what the table gives it: a 403 that names the
role where it may not, and never the role's refusal where it may."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from app.api.factory import create_app
from app.roles import PERMITS, ROUTE_ACTIONS
from app.settings import Settings

# sample values of the path parameters other than the project (objects that need not exist: a
# permitted request then fails for another reason, never for the role)
SAMPLES = {
    "image:path": "labeled-data/img001.png",
    "path:path": "index.html",
    "username": "bob",
    "name": "x.csv",
}


def _project_routes(settings: Settings) -> set[tuple[str, str]]:
    app = create_app(settings)
    routes = set()
    for included in app.router.routes:
        contexts = getattr(included, "effective_route_contexts", None)
        for context in contexts() if callable(contexts) else contexts or [included]:
            route = getattr(context, "route", context)
            path = getattr(route, "path", "")
            if "{project_id}" in path and not path.startswith("/labelstudio-hooks"):
                routes |= {("GET" if m == "HEAD" else m, path) for m in getattr(route, "methods", ()) or ()}
    return routes


def test_every_project_route_has_a_role_rule_and_every_rule_a_route(settings: Settings) -> None:
    served = _project_routes(settings)
    assert served - ROUTE_ACTIONS.keys() == set(), "routes without a role rule (add them to app.roles)"
    assert ROUTE_ACTIONS.keys() - served == set(), "role rules of routes that are not served"


@pytest.fixture
def members(client: TestClient, login) -> tuple[int, dict[str, dict]]:
    """alice's project with a trainer, a labeler and a viewer."""
    headers = {"owner": login("alice")}
    project = client.post("/projects", json={"name": "p", "keypoints": ["nose"]}, headers=headers["owner"])
    pid = project.json()["id"]
    for username, role in (("bob", "trainer"), ("carol", "labeler"), ("dave", "viewer")):
        headers[role] = login(username)
        added = client.post(
            f"/projects/{pid}/members", json={"username": username, "role": role}, headers=headers["owner"]
        )
        assert added.status_code == 201, added.text
    roles = client.get(f"/projects/{pid}", headers=headers["viewer"]).json()["roles"]
    assert roles == {"alice": "owner", "bob": "trainer", "carol": "labeler", "dave": "viewer"}
    return pid, headers


@pytest.mark.parametrize("role", ["trainer", "labeler", "viewer"])
def test_each_role_gets_what_the_table_gives_it_on_every_route(
    client: TestClient, members, role: str
) -> None:
    pid, headers = members
    refused_for_role = f"your role in project {pid} is {role}"
    checked = {"allowed": 0, "refused": 0}
    for (method, template), action in sorted(ROUTE_ACTIONS.items()):
        path = re.sub(
            r"\{([^}]+)\}", lambda m: str(pid) if m[1] == "project_id" else SAMPLES.get(m[1], "1"), template
        )
        resp = client.request(method, path, json={} if method != "GET" else None, headers=headers[role])
        body = resp.json() if resp.headers.get("content-type") == "application/json" else {}
        detail = str(body.get("detail", "")) if isinstance(body, dict) else ""
        if action in PERMITS[role]:
            assert not (resp.status_code == 403 and refused_for_role in detail), (method, path, detail)
            checked["allowed"] += 1
        else:
            assert resp.status_code == 403 and refused_for_role in detail, (
                method,
                path,
                resp.status_code,
                detail,
            )
            assert "ask its owner (alice)" in detail
            checked["refused"] += 1
    assert min(checked.values()) >= 4, checked  # each role is both let through and refused


def test_only_the_owner_changes_members_and_roles(client: TestClient, members, login) -> None:
    pid, headers = members
    demoted = client.patch(f"/projects/{pid}/members/bob", json={"role": "viewer"}, headers=headers["owner"])
    assert demoted.status_code == 200 and demoted.json()["roles"]["bob"] == "viewer"
    refused = client.post(f"/projects/{pid}/models", json={"name": "m"}, headers=headers["trainer"])
    assert (
        refused.status_code == 403 and "is viewer" in refused.json()["detail"]
    )  # bob's headers, now a viewer
    for role in ("trainer", "labeler", "viewer"):
        change = client.patch(
            f"/projects/{pid}/members/carol", json={"role": "trainer"}, headers=headers[role]
        )
        assert change.status_code == 403
    bad = client.patch(f"/projects/{pid}/members/carol", json={"role": "owner"}, headers=headers["owner"])
    assert bad.status_code == 422
    assert client.delete(f"/projects/{pid}/members/dave", headers=headers["owner"]).status_code == 204
    assert client.get(f"/projects/{pid}", headers=headers["viewer"]).status_code == 404  # dave is out
    missing = client.patch(f"/projects/{pid}/members/zed", json={"role": "viewer"}, headers=headers["owner"])
    assert missing.status_code == 404 and "not a member" in missing.json()["detail"]


def test_what_each_role_is_for(client: TestClient, members) -> None:
    """The table's meaning, spelled out: a labeler labels but sees no models, videos or FiftyOne;
    a viewer reads but changes nothing; a trainer trains but does not delete the project."""
    pid, headers = members
    expected = [
        ("labeler", "PUT", f"/projects/{pid}/labels?filename=l.csv", False),
        ("labeler", "GET", f"/projects/{pid}/labels", False),
        ("labeler", "GET", f"/projects/{pid}/models", True),
        ("labeler", "GET", f"/projects/{pid}/videos", True),
        ("labeler", "GET", f"/fiftyone/{pid}/", True),
        ("viewer", "GET", f"/projects/{pid}/models", False),
        ("viewer", "PUT", f"/projects/{pid}/labels?filename=l.csv", True),
        ("viewer", "POST", f"/projects/{pid}/labels/qc/reviewed", True),
        ("trainer", "POST", f"/projects/{pid}/models", False),
        ("trainer", "DELETE", f"/projects/{pid}", True),
    ]
    for role, method, path, refused in expected:
        resp = client.request(method, path, json={} if method != "GET" else None, headers=headers[role])
        assert (resp.status_code == 403) == refused, (role, method, path, resp.status_code, resp.text)
