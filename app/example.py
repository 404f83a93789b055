"""Load the example project (Lightning Pose's mirror-mouse toy data) into a running service, over HTTP.

Used by ``posecloud up``: a demo account, the project with its labels and its test video, so a new
user can train and predict at once. Loading twice is harmless: an existing project is left alone.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import yaml

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mirror-mouse" / "project.yaml"
DEMO_USER = "demo"
PROJECT_FIELDS = ("name", "keypoints", "skeleton", "pca_keypoints", "view_matches", "flip_pairs")


def _call(
    base: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, dict | list]:
    request = urllib.request.Request(base + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=300) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def _json(payload: dict) -> tuple[bytes, dict]:
    return json.dumps(payload).encode(), {"content-type": "application/json"}


def labels_zip(data_dir: Path, labels_file: str) -> bytes:
    """The project's label file and labeled-data/ images as one ZIP, in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.write(data_dir / labels_file, "CollectedData.csv")
        for image in sorted((data_dir / "labeled-data").rglob("*.png")):
            zf.write(image, image.relative_to(data_dir).as_posix())
    return buffer.getvalue()


def load_example(base_url: str, password: str, project_file: Path = EXAMPLE) -> str:
    """Create the demo account and the example project if missing; returns a one-line summary."""
    config = yaml.safe_load(project_file.read_text())
    data_dir = (project_file.parent / config["data_dir"]).resolve()
    if not data_dir.is_dir():
        return f"example data not found at {data_dir}; skipped loading the example project"
    _call(base_url, "POST", "/auth/register", *_json({"username": DEMO_USER, "password": password}))
    form = urllib.parse.urlencode({"username": DEMO_USER, "password": password}).encode()
    status, token = _call(
        base_url, "POST", "/auth/login", form, {"content-type": "application/x-www-form-urlencoded"}
    )
    if status != 200:
        return f"could not log in as {DEMO_USER!r} ({token}); skipped loading the example project"
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    _, projects = _call(base_url, "GET", "/projects", headers=auth)
    if any(p["name"] == config["name"] for p in projects):
        return f"example project {config['name']!r} already loaded (user {DEMO_USER!r})"
    body, headers = _json({k: config[k] for k in PROJECT_FIELDS if k in config})
    status, project = _call(base_url, "POST", "/projects", body, {**headers, **auth})
    if status != 201:
        return f"could not create the example project: {project}"
    pid = project["id"]
    octet = {**auth, "content-type": "application/octet-stream"}
    _call(
        base_url,
        "PUT",
        f"/projects/{pid}/labels?filename=labels.zip",
        labels_zip(data_dir, config.get("labels_file", "CollectedData.csv")),
        octet,
    )
    for video in sorted((data_dir / config.get("video_dir", "videos")).glob("*.mp4")):
        _call(base_url, "POST", f"/projects/{pid}/videos?filename={video.name}", video.read_bytes(), octet)
    return f"example project {config['name']!r} loaded (project {pid}, user {DEMO_USER!r})"
