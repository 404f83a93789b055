"""Keypoints between Label Studio annotations and the project's label files.

Label Studio places a keypoint in percent of the image's width and height, 0 % at the image's left
(top) edge. Label files (DeepLabCut's convention) are in pixels with pixel centres at whole numbers,
so the image spans -0.5 to width - 0.5:  ``x_px = x_pct / 100 * width - 0.5`` (and back), with the
frame's real size, read from the image itself; nothing is rounded beyond float precision, and a
keypoint that comes back from Label Studio within ``SAME_PX`` of where the label file has it is the
same keypoint (the file keeps its value).

The label files are edited under a lock per project (a thread lock and a file lock, so two
labelers' submits, the webhook and a reconciliation never interleave) and written whole to a
temporary file, then moved into place.
"""

from __future__ import annotations

import fcntl
import math
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from app.labelstudio.config import control_name, image_field, view_of_control
from core.data.cameras import session_of
from core.labels.dlc_csv import write_pose_csv
from core.labels.table import PoseTable
from worker.state.db.models import Project
from worker.state.label_versions import current_tables
from worker.state.layout import data_prefix, labels_key
from worker.state.storage import Storage

_thread_locks: dict[tuple[str, int], threading.Lock] = {}
_guard = threading.Lock()
SAME_PX = 1e-6  # Label Studio's percent round trip moves a keypoint by float rounding (~1e-13 px) only


def to_pixels(x_pct: float, y_pct: float, width: int, height: int) -> tuple[float, float]:
    return x_pct / 100 * width - 0.5, y_pct / 100 * height - 0.5


def to_percent(x: float, y: float, width: int, height: int) -> tuple[float, float]:
    return (x + 0.5) / width * 100, (y + 0.5) / height * 100


def view_images(project: Project, image: str) -> dict[str, str]:
    """View -> label-file row name of one moment, from its first view's row name (``image``): the
    other views' images are in the folder named with their view word instead."""
    views = project.views
    if len(views) == 1:
        return {views[0]: image}
    folder, _, name = image.rpartition("/")
    parent, _, video = folder.rpartition("/")
    pattern = session_of(video, views[0])
    return {view: f"{parent}/{pattern.replace('{view}', view)}/{name}" for view in views}


def frame_url(project_id: int, image: str) -> str:
    """Where browsers load a frame from: the service, with the project's access check."""
    return f"/projects/{project_id}/frames/{image}"


SHOWN_AGAIN = "shown"
"""The folder, under a project's frame addresses, of re-shown frames' images
(``app.labelstudio.rechecks``): ``shown/<alias>-<view number><extension>``."""


def task_data(project: Project, image: str, alias: str | None = None) -> dict[str, str]:
    """A task's data: each view's image of the moment ``image``, at its own address or, with
    ``alias`` (a re-shown frame), at one that does not say which frame it is."""
    return {
        image_field(view, project.views): frame_url(
            project.id, path if alias is None else f"{SHOWN_AGAIN}/{alias}-{i}{PurePosixPath(path).suffix}"
        )
        for i, (view, path) in enumerate(view_images(project, image).items())
    }


def image_size(storage: Storage, project_id: int, image: str) -> tuple[int, int]:
    with storage.open(f"{data_prefix(project_id)}/{image}") as f:
        return Image.open(f).size


def annotation_points(result: list[dict], project: Project) -> dict[str, np.ndarray]:
    """View -> ``(K, 2)`` pixels of one annotation's keypoints (NaN where absent); the sizes are
    those Label Studio saw (``original_width``/``_height``, the image's natural size)."""
    points = {view: np.full((len(project.keypoints), 2), np.nan) for view in project.views}
    for region in result or ():
        if region.get("type") != "keypointlabels":
            continue
        view = view_of_control(region.get("from_name", ""), project.views)
        names = region.get("value", {}).get("keypointlabels") or []
        if view is None or len(names) != 1 or names[0] not in project.keypoints:
            continue
        value = region["value"]
        points[view][project.keypoints.index(names[0])] = to_pixels(
            value["x"], value["y"], region["original_width"], region["original_height"]
        )
    return points


def annotation_result(
    points: dict[str, np.ndarray], sizes: dict[str, tuple[int, int]], project: Project
) -> list[dict]:
    """The Label Studio regions of ``points`` (view -> ``(K, 2)`` pixels; NaN rows left out)."""
    regions = []
    for view, xy in points.items():
        width, height = sizes[view]
        for k, (x, y) in enumerate(xy):
            if not (math.isfinite(x) and math.isfinite(y)):
                continue
            x_pct, y_pct = to_percent(x, y, width, height)
            regions.append(
                {
                    "type": "keypointlabels",
                    "from_name": control_name(view, project.views),
                    "to_name": f"frame_{view}" if len(project.views) > 1 else "frame",
                    "original_width": width,
                    "original_height": height,
                    "image_rotation": 0,
                    "value": {"x": x_pct, "y": y_pct, "width": 0.5, "keypointlabels": [project.keypoints[k]]},
                }
            )
    return regions


class LabelFiles:
    """A project's label files (one per view) in storage, read and rewritten under its lock."""

    def __init__(self, storage: Storage, locks: Path) -> None:
        self.storage, self.locks = storage, locks

    def read(self, project: Project) -> dict[str, PoseTable]:
        """View -> its labels (an empty table where the view has no label file yet)."""
        found = current_tables(self.storage, project)
        empty = PoseTable(list(project.keypoints), [], np.zeros((0, len(project.keypoints), 2)))
        return {view: found.get(view, empty) for view in project.views}

    @contextmanager
    def lock(self, project_id: int, name: str = "labels") -> Iterator[None]:
        """One of the project's locks, across threads and processes: ``labels`` (the default) for
        a read and rewrite of the label files; other names for longer work that must not
        interleave with itself (``app.labelstudio.projects.RECONCILING``)."""
        with _guard:
            thread_lock = _thread_locks.setdefault((name, project_id), threading.Lock())
        self.locks.mkdir(parents=True, exist_ok=True)
        with thread_lock, (self.locks / f"{name}-{project_id}.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def write(self, project: Project, tables: dict[str, PoseTable]) -> None:
        """Replace the label files with ``tables`` (call under ``lock``)."""
        with tempfile.TemporaryDirectory() as work:
            for view, table in tables.items():
                local = write_pose_csv(table, Path(work) / f"{view}.csv")
                self.storage.put_file(local, labels_key(project.id, project.views, view))


def set_rows(
    tables: dict[str, PoseTable], images: dict[str, str], points: dict[str, np.ndarray] | None
) -> dict[str, PoseTable]:
    """The tables with one moment's rows (view -> row name) set to ``points`` (view -> ``(K, 2)``),
    added at the end when new, or removed when ``points`` is None; every view's file keeps the same
    moments in the same order."""
    out = {}
    for view, table in tables.items():
        image = images[view]
        index, values = list(table.index), table.values[..., :2].copy()
        if image in index:
            row = index.index(image)
            if points is None:
                del index[row]
                values = np.delete(values, row, axis=0)
            else:
                values[row] = points[view]
        elif points is not None:
            index.append(image)
            values = np.concatenate([values, points[view][None]], axis=0)
        out[view] = PoseTable(list(table.keypoints), index, values, ("x", "y"), table.scorer)
    return out


def settled(tables: dict[str, PoseTable], before: dict[str, PoseTable]) -> dict[str, PoseTable]:
    """``tables`` (view -> labels, e.g. read back from Label Studio) with what did not change kept as
    ``before`` has it: its rows keep their order (new rows follow, in theirs), a row whose keypoints
    all lie within ``SAME_PX`` of ``before``'s keeps ``before``'s values, and the scorer is kept."""
    out = {}
    for view, table in tables.items():
        old = before[view]
        old_rows = {image: i for i, image in enumerate(old.index)}
        new_rows = {image: i for i, image in enumerate(table.index)}
        order = [image for image in old.index if image in new_rows]
        order += [image for image in table.index if image not in old_rows]
        rows = []
        for image in order:
            new = table.values[new_rows[image], :, :2]
            kept = old.values[old_rows[image], :, :2] if image in old_rows else None
            same = kept is not None and np.allclose(new, kept, rtol=0, atol=SAME_PX, equal_nan=True)
            rows.append(kept if same else new)
        values = np.array(rows).reshape(len(order), len(table.keypoints), 2)
        out[view] = PoseTable(list(table.keypoints), order, values, ("x", "y"), old.scorer)
    return out
