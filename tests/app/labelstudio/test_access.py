"""Nobody reaches Label Studio but through posecloud, and through it only their own projects: a
second user gets 403/404 on every kind of Label Studio request for the first user's project."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from tests.app.labelstudio.conftest import Api
from tests.app.labelstudio.test_labeling import _open


def _first(items):
    return (items["tasks"] if isinstance(items, dict) else items)[0]


@pytest.fixture
def alices(api: Api, toy) -> dict:
    """alice's opened project with a task, its annotation and a draft of hers."""
    token, browser, project = toy
    opened = _open(api, token, project)
    ls = opened["ls_project_id"]
    task = _first(browser.get("/labelstudio/api/tasks", params={"project": ls}).json())
    annotation = browser.get(f"/labelstudio/api/tasks/{task['id']}/annotations/").json()[0]
    draft = browser.post(f"/labelstudio/api/tasks/{task['id']}/drafts", json={"result": [], "lead_time": 1})
    assert draft.status_code == 201, draft.text
    image = task["data"]["image"]
    return {
        "ls": ls,
        "task": task["id"],
        "annotation": annotation["id"],
        "draft": draft.json()["id"],
        "image": image,
    }


def test_another_user_reaches_nothing_of_the_first_users_project(api: Api, alices: dict, labelstudio) -> None:
    a = alices
    bob_token, bob = api.sign_in("bob")
    with api.client(bob_token) as c:  # bob's own project works, so the refusals below are about alice's
        mine = c.post("/projects", json={"name": "bobs", "keypoints": ["nose"]}).json()["id"]
        assert c.post(f"/projects/{mine}/labeling").status_code == 200
    bob_ls_id = bob.get("/labelstudio/api/current-user/whoami").json()["id"]
    admin = {"Authorization": f"Token {labelstudio.secrets.token}"}
    requests = [
        ("GET", f"/labelstudio/projects/{a['ls']}/data", None),
        ("GET", f"/labelstudio/projects/{a['ls']}/settings", None),
        ("GET", f"/labelstudio/api/projects/{a['ls']}", None),
        ("PATCH", f"/labelstudio/api/projects/{a['ls']}", {"title": "mine now"}),
        ("DELETE", f"/labelstudio/api/projects/{a['ls']}", None),
        ("GET", f"/labelstudio/api/projects/{a['ls']}/next", None),
        ("GET", f"/labelstudio/api/projects/{a['ls']}/export?exportType=JSON", None),
        ("POST", f"/labelstudio/api/projects/{a['ls']}/import", [{"data": {"image": "x"}}]),
        ("GET", "/labelstudio/api/projects/", None),
        ("GET", f"/labelstudio/api/tasks?project={a['ls']}", None),
        ("GET", "/labelstudio/api/tasks", None),
        ("GET", f"/labelstudio/api/tasks/{a['task']}", None),
        ("PATCH", f"/labelstudio/api/tasks/{a['task']}", {"data": {"image": "x"}}),
        ("DELETE", f"/labelstudio/api/tasks/{a['task']}", None),
        ("GET", f"/labelstudio/api/tasks/{a['task']}/annotations/", None),
        ("POST", f"/labelstudio/api/tasks/{a['task']}/annotations/", {"result": []}),
        ("GET", f"/labelstudio/api/annotations/{a['annotation']}/", None),
        ("PATCH", f"/labelstudio/api/annotations/{a['annotation']}/", {"result": []}),
        ("DELETE", f"/labelstudio/api/annotations/{a['annotation']}/", None),
        ("GET", f"/labelstudio/api/tasks/{a['task']}/drafts", None),
        ("POST", f"/labelstudio/api/tasks/{a['task']}/drafts", {"result": []}),
        ("GET", f"/labelstudio/api/drafts/{a['draft']}/", None),
        ("DELETE", f"/labelstudio/api/drafts/{a['draft']}/", None),
        ("GET", f"/labelstudio/api/predictions?task={a['task']}", None),
        ("POST", "/labelstudio/api/predictions/", {"task": a["task"], "result": []}),
        ("GET", f"/labelstudio/api/dm/project?project={a['ls']}", None),
        ("GET", f"/labelstudio/api/dm/views?project={a['ls']}", None),
        (
            "POST",
            f"/labelstudio/api/dm/actions?project={a['ls']}&id=delete_tasks",
            {"selectedItems": {"all": True}},
        ),
        ("GET", "/labelstudio/data/local-files/?d=projects/1/data/CollectedData.csv", None),
        ("GET", "/labelstudio/data/upload/1/x.png", None),
        ("GET", "/labelstudio/api/users/", None),
        ("PATCH", f"/labelstudio/api/users/{bob_ls_id}", {"active_organization": 1}),
        ("POST", "/labelstudio/api/users/", {"email": "mallory@x.org"}),
        ("GET", "/labelstudio/api/organizations/", None),
        ("POST", "/labelstudio/api/organizations/", {"title": "mine"}),
        ("GET", "/labelstudio/api/organizations/1/memberships", None),
        ("POST", "/labelstudio/api/token/", None),
        ("GET", "/labelstudio/api/current-user/token", None),
        ("POST", "/labelstudio/api/current-user/reset-token/", None),
        ("POST", "/labelstudio/api/token/refresh/", {"refresh": "x"}),
        ("POST", "/labelstudio/api/webhooks/", {"url": "http://127.0.0.1:1/", "project": a["ls"]}),
        ("GET", "/labelstudio/api/storages/", None),
        ("GET", "/labelstudio/user/login/", None),
        ("GET", a["image"], None),  # the frame itself, served by posecloud
    ]
    allowed = []
    for method, path, body in requests:
        # a client's own credentials are dropped: the admin's token gives bob nothing
        resp = bob.request(method, path, json=body, headers=admin)
        if resp.status_code not in (403, 404):
            allowed.append((method, path, resp.status_code))
    assert not allowed, f"bob reached alice's Label Studio data: {allowed}"
    assert len(requests) >= 40
    # and alice's project is untouched
    assert httpx.get(f"{labelstudio.url}/api/projects/{a['ls']}", headers=admin).json()["task_number"] == 90


def test_a_viewer_sees_the_tasks_and_a_labeler_labels_them(api: Api, toy, alices: dict) -> None:
    """Roles in Label Studio: a viewer member opens the task list and a task but cannot annotate;
    a labeler member can."""
    owner_token, _, project = toy
    a = alices
    annotation = {"result": [], "lead_time": 1.0}
    for username, role, may_write in (("vera", "viewer", False), ("lena", "labeler", True)):
        _token, member = api.sign_in(username)
        with api.client(owner_token) as c:
            added = c.post(f"/projects/{project}/members", json={"username": username, "role": role})
            assert added.status_code == 201, added.text
        assert member.get(f"/labelstudio/projects/{a['ls']}/data").status_code == 200
        tasks = member.get("/labelstudio/api/tasks", params={"project": a["ls"]})
        assert tasks.status_code == 200 and len(tasks.json()["tasks"]) > 0
        assert member.get(f"/labelstudio/api/tasks/{a['task']}").status_code == 200
        made = member.post(f"/labelstudio/api/tasks/{a['task']}/annotations/", json=annotation)
        if may_write:
            assert made.status_code == 201, made.text
        else:
            assert (
                made.status_code == 403
                and f"your role in project {project} is viewer" in made.json()["detail"]
            )
            patched = member.patch(f"/labelstudio/api/annotations/{a['annotation']}/", json=annotation)
            assert patched.status_code == 403


def test_nobody_reaches_label_studio_without_a_posecloud_session(api: Api, alices: dict, labelstudio) -> None:
    anonymous = httpx.Client(base_url=api.url)
    for path in (f"/labelstudio/projects/{alices['ls']}/data", "/labelstudio/api/projects/", alices["image"]):
        assert anonymous.get(path).status_code == 401
    forged = httpx.Client(base_url=api.url, cookies={"posecloud_session": "not-a-token"})
    assert forged.get(f"/labelstudio/api/projects/{alices['ls']}").status_code == 401
    # Label Studio listens on 127.0.0.1 only: every listening socket on its port is bound to loopback
    addresses = _listening_addresses(labelstudio.port)
    assert addresses and addresses <= {"127.0.0.1", "::1"}, addresses


def _listening_addresses(port: int) -> set[str]:
    """The local addresses of the TCP sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)  # 32-bit words, each in host (little-endian) order
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.add(socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw))
    return found
