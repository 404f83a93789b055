"""A second user attacks the first user's labels through the API and the Label Studio proxy: the
victim's project, tasks, annotations, drafts and views named directly, reached from the attacker's
own routes by every spelling of ``..``, and named in the bodies of writes to the attacker's own
objects (moving an annotation onto the victim's task, a view made in the victim's project).
Every request is refused, and afterwards — after a sync that would carry any change into the label
file — the victim's label file, frames and Label Studio tasks and annotations are what they were."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx

from tests import rawhttp
from tests.app.labelstudio.conftest import Api
from tests.app.labelstudio.test_labeling import _open
from worker.state.layout import project_prefix

REFUSED = {400, 401, 403, 404, 405, 413, 415, 422}


def files_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")}  # fmt: skip


def labelstudio_digest(labelstudio, ls_project: int) -> str:
    """The project's tasks with their annotations and drafts, as Label Studio's admin exports them."""
    admin = {"Authorization": f"Token {labelstudio.secrets.token}"}
    export = httpx.get(f"{labelstudio.url}/api/projects/{ls_project}/export?exportType=JSON&download_all_tasks=true",
                       headers=admin, timeout=120)  # fmt: skip
    assert export.status_code == 200, export.text
    return hashlib.sha256(json.dumps(export.json(), sort_keys=True).encode()).hexdigest()


def _objects(browser: httpx.Client, ls: int) -> dict:
    tasks = browser.get("/labelstudio/api/tasks", params={"project": ls}).json()
    tasks = tasks["tasks"] if isinstance(tasks, dict) else tasks
    task = tasks[0]["id"]
    annotation = browser.get(f"/labelstudio/api/tasks/{task}/annotations/").json()[0]["id"]
    draft = browser.post(f"/labelstudio/api/tasks/{task}/drafts", json={"result": [], "lead_time": 1})
    view = browser.post(f"/labelstudio/api/dm/views?project={ls}", json={"project": ls})
    assert draft.status_code == 201 and view.status_code == 201, (draft.text, view.text)
    return {"project": ls, "task": task, "task2": tasks[1]["id"], "annotation": annotation,
            "draft": draft.json()["id"], "view": view.json()["id"]}  # fmt: skip


def attacks(a: dict, b: dict, alices_project: int) -> list[tuple[str, str, dict | None]]:
    """(method, raw path, JSON body): alice's objects ``a`` named directly and through bob's ``b``."""
    L = "/labelstudio"
    direct = [
        ("GET", "/api/projects/{project}"), ("PATCH", "/api/projects/{project}"), ("DELETE", "/api/projects/{project}"),
        ("GET", "/api/projects/{project}/export?exportType=JSON"), ("GET", "/api/projects/{project}/next"),
        ("POST", "/api/projects/{project}/import"), ("GET", "/projects/{project}/data"),
        ("GET", "/api/tasks?project={project}"), ("GET", "/api/tasks/{task}"), ("PATCH", "/api/tasks/{task}"),
        ("DELETE", "/api/tasks/{task}"), ("GET", "/api/tasks/{task}/annotations"),
        ("POST", "/api/tasks/{task}/annotations"), ("GET", "/api/tasks/{task}/drafts"),
        ("POST", "/api/tasks/{task}/drafts"), ("GET", "/api/annotations/{annotation}"),
        ("PATCH", "/api/annotations/{annotation}"), ("DELETE", "/api/annotations/{annotation}"),
        ("GET", "/api/drafts/{draft}"), ("PATCH", "/api/drafts/{draft}"), ("DELETE", "/api/drafts/{draft}"),
        ("GET", "/api/dm/views/{view}"), ("PATCH", "/api/dm/views/{view}"), ("DELETE", "/api/dm/views/{view}"),
        ("GET", "/api/dm/views?project={project}"), ("POST", "/api/dm/actions?project={project}&id=delete_tasks"),
        ("GET", "/api/predictions?task={task}"), ("GET", "/api/users?project={project}"),
    ]  # fmt: skip
    requests = [(m, L + p.format(**a), {"result": []} if m in ("POST", "PATCH") else None) for m, p in direct]
    # from bob's own routes, out by every spelling of '..'
    for own, target in (("/static", "/api/projects/{project}"), ("/api/tasks/{task}", "/api/tasks/{task}"),
                        ("/api/dm/views/{view}", "/api/annotations/{annotation}")):  # fmt: skip
        start, depth, target = L + own.format(**b), own.count("/"), target.format(**a)
        for dots in ("..", "%2e%2e", "%2E%2e", ".%2e", "%252e%252e", "./.."):
            requests.append(("GET", start + f"/{dots}" * depth + target, None))
        for separator in ("%2f", "%2F", "%5c", "\\"):
            requests.append(("GET", start + "/" + f"..{separator}" * depth + target[1:], None))
    # bob's own objects, with alice's named in the query or the body
    requests += [
        ("PATCH", f"{L}/api/annotations/{b['annotation']}", {"task": a["task"]}),
        ("PATCH", f"{L}/api/annotations/{b['annotation']}?taskID={a['task']}", {"result": []}),
        ("PUT", f"{L}/api/annotations/{b['annotation']}", {"task": str(a["task"]), "result": []}),
        ("PATCH", f"{L}/api/drafts/{b['draft']}", {"task": a["task"]}),
        ("POST", f"{L}/api/tasks/{b['task']}/annotations", {"task": a["task"], "result": []}),
        ("POST", f"{L}/api/tasks/{b['task']}/annotations?project={a['project']}", {"result": []}),
        ("POST", f"{L}/api/tasks/{b['task']}/annotations", {"result": [], "parent_annotation": a["annotation"]}),
        ("POST", f"{L}/api/tasks/{b['task']}/annotations", {"result": [], "draft_id": a["draft"]}),
        ("POST", f"{L}/api/tasks/{b['task']}/annotations", {"result": [], "completed_by": 1}),
        ("POST", f"{L}/api/dm/views?project={b['project']}", {"project": a["project"]}),
        ("POST", f"{L}/api/dm/views?project={b['project']}&project={a['project']}", {"project": b["project"]}),
        ("PATCH", f"{L}/api/dm/views/{b['view']}", {"project": a["project"], "data": {}}),
        ("POST", f"{L}/api/dm/actions?project={b['project']}&id=delete_tasks",
         {"project": b["project"], "selectedItems": {"all": False, "included": [a["task"], a["task2"]]}}),
        ("POST", f"{L}/api/dm/actions?project={b['project']}&id=delete_tasks&tabID={a['view']}",
         {"selectedItems": {"all": True, "excluded": []}}),
        ("PATCH", f"{L}/api/annotations/{b['annotation']}", {"nested": [{"deep": {"task": a["task"]}}]}),
        ("GET", f"{L}/api/tasks?project={b['project']}&view={a['view']}", None),
        ("GET", f"{L}/api/tasks?project={b['project']}%26project%3D{a['project']}", None),
        ("GET", f"{L}/data/local-files/?d=projects/{alices_project}/data/CollectedData.csv", None),
        ("GET", f"{L}/static/..%2f..%2fdata/local-files/?d=projects/{alices_project}/data/CollectedData.csv", None),
        ("GET", f"{L}/api/current-user/token", None),
        ("GET", f"{L}/api/users/1", None),
    ]  # fmt: skip
    return requests


def test_a_second_user_cannot_read_or_change_the_first_users_labels(
    api: Api, toy, labelstudio, toy_labels_zip: Path
) -> None:
    token, alice, project = toy
    a = _objects(alice, _open(api, token, project)["ls_project_id"])
    bob_token, bob = api.sign_in("bob")
    with api.client(token) as c:
        keypoints = c.get(f"/projects/{project}").json()["keypoints"]
    with api.client(bob_token) as c:  # bob's own project, with tasks and annotations of his own
        body = {"name": "bobs", "keypoints": keypoints}
        own = c.post("/projects", json=body).json()["id"]
        resp = c.put(
            f"/projects/{own}/labels", params={"filename": "t.zip"}, content=toy_labels_zip.read_bytes()
        )
        assert resp.status_code == 200, resp.text
    b = _objects(bob, _open(api, bob_token, own)["ls_project_id"])
    victim = api.data_root / project_prefix(project)
    before = (files_digest(victim), labelstudio_digest(labelstudio, a["project"]))
    port = httpx.URL(api.url).port
    cookie = {"Cookie": f"posecloud_session={bob.cookies['posecloud_session']}"}
    requests = attacks(a, b, project)
    # and the API's own routes of alice's project, with bob's token
    requests += [(m, p.format(project), None) for m, p in [
        ("GET", "/projects/{}"), ("DELETE", "/projects/{}"), ("GET", "/projects/{}/labels"),
        ("PUT", "/projects/{}/labels?filename=x.csv"), ("POST", "/projects/{}/labeling"),
        ("POST", "/projects/{}/labeling/sync"), ("GET", "/projects/{}/labeling/progress"),
        ("GET", "/projects/{}/frames/labeled-data/img001.png"), ("POST", "/projects/{}/members"),
        ("GET", f"/projects/{own}/frames/labeled-data/../../../{{}}/data/CollectedData.csv"),
        ("GET", f"/projects/{own}/frames/labeled-data/%2e%2e/%2e%2e/%2e%2e/{{}}/data/CollectedData.csv"),
    ]]  # fmt: skip
    allowed = []
    for i, (method, path, body) in enumerate(requests):
        headers = dict(cookie) if i % 3 else {"Authorization": f"Bearer {bob_token}"}
        raw = None
        if body is not None:
            raw, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        answer = rawhttp.send(port, method, path.encode(), headers, raw)
        if answer.status not in REFUSED:
            allowed.append((method, path, body, answer.status, answer.body[:200]))
    assert not allowed, allowed
    assert len(requests) >= 80
    # a sync would carry any change made in Label Studio into alice's label file
    with api.client(token) as c:
        assert c.post(f"/projects/{project}/labeling/sync").status_code == 200
    assert (files_digest(victim), labelstudio_digest(labelstudio, a["project"])) == before
