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
from dataclasses import dataclass
from pathlib import Path

import yaml

from core.errors import ConfigError

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


@dataclass(frozen=True)
class Example:
    """The example project: what to create (``spec``), its labels and images, its videos."""

    spec: dict
    data_dir: Path
    labels_file: str
    videos: list[Path]

    def labels_zip(self) -> bytes:
        return labels_zip(self.data_dir, self.labels_file)


def read_example(project_file: Path = EXAMPLE) -> Example:
    config = yaml.safe_load(project_file.read_text())
    data_dir = (project_file.parent / config["data_dir"]).resolve()
    labels_file = config.get("labels_file", "CollectedData.csv")
    if not (data_dir / labels_file).is_file():
        raise ConfigError(
            f"the example's data (its {labels_file}) is not in {data_dir}; the example project cannot be made"
        )
    return Example(
        spec={k: config[k] for k in PROJECT_FIELDS if k in config},
        data_dir=data_dir,
        labels_file=labels_file,
        videos=sorted((data_dir / config.get("video_dir", "videos")).glob("*.mp4")),
    )


def load_example(base_url: str, password: str, project_file: Path = EXAMPLE) -> str:
    """Create the demo account and the example project if missing; returns a one-line summary."""
    try:
        example = read_example(project_file)
    except ConfigError as e:
        return f"{e}; skipped loading the example project"
    _call(base_url, "POST", "/auth/register", *_json({"username": DEMO_USER, "password": password}))
    form = urllib.parse.urlencode({"username": DEMO_USER, "password": password}).encode()
    status, token = _call(
        base_url, "POST", "/auth/login", form, {"content-type": "application/x-www-form-urlencoded"}
    )
    if status != 200:
        return f"could not log in as {DEMO_USER!r} ({token}); skipped loading the example project"
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    name = example.spec["name"]
    _, projects = _call(base_url, "GET", "/projects", headers=auth)
    if any(p["name"] == name for p in projects):
        return f"example project {name!r} already loaded (user {DEMO_USER!r})"
    body, headers = _json(example.spec)
    status, project = _call(base_url, "POST", "/projects", body, {**headers, **auth})
    if status != 201:
        return f"could not create the example project: {project}"
    pid = project["id"]
    octet = {**auth, "content-type": "application/octet-stream"}
    _call(base_url, "PUT", f"/projects/{pid}/labels?filename=labels.zip", example.labels_zip(), octet)
    for video in example.videos:
        _call(base_url, "POST", f"/projects/{pid}/videos?filename={video.name}", video.read_bytes(), octet)
    return f"example project {name!r} loaded (project {pid}, user {DEMO_USER!r})"
