"""Versions of a project's labels: each state its label files reach (an upload, a Label Studio
annotation, a reconciliation, a restore) is kept as a numbered version with its content's hash and a
copy of the files, and each model records the version it trained on, so that two models' labels can
be told apart, compared, downloaded and restored long after the label file has moved on.

A version is recorded after the label files are written, by whoever wrote them (the service's
upload and Label Studio paths) and again by a training when it starts: labels written before
versions existed, or by a path that failed between its write and its record, become a version
then. An unchanged state makes no new version.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import PoseCloudError
from core.labels.dlc_csv import read_pose_csv
from core.labels.table import PoseTable
from worker.state.db.models import LabelVersion, Project
from worker.state.layout import label_version_prefix, labels_key
from worker.state.storage import Storage

MOVED_PX = 1.0  # a keypoint that moved more than this between versions was corrected


def current_files(storage: Storage, project: Project) -> dict[str, bytes]:
    """View -> the bytes of its label file (views without one are left out)."""
    keys = {view: labels_key(project.id, project.views, view) for view in project.views}
    return {view: _read(storage, key) for view, key in keys.items() if storage.exists(key)}


def current_tables(storage: Storage, project: Project) -> dict[str, PoseTable]:
    """View -> its label table (views without a label file left out)."""
    return _tables(current_files(storage, project))


def _read(storage: Storage, key: str) -> bytes:
    with storage.open(key) as f:
        return f.read()


def _digest(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for view in sorted(files):
        digest.update(f"{view}\n{len(files[view])}\n".encode())
        digest.update(files[view])
    return digest.hexdigest()


def version_key(project: Project, version: LabelVersion, view: str) -> str:
    """The storage key of ``view``'s label file as it was in ``version``."""
    return f"{label_version_prefix(project.id, version.sha256)}/{_name(project, view)}"


def record_version(
    session: Session, storage: Storage, project: Project, source: str, user_id: int | None = None
) -> LabelVersion | None:
    """The version of the project's label files as they are now: the newest one when they have not
    changed since, else a new one (its files copied first); None while there is no label file."""
    files = current_files(storage, project)
    if not files:
        return None
    sha = _digest(files)
    for view, content in files.items():  # content-addressed: a concurrent writer writes the same bytes
        storage.put_stream([content], f"{label_version_prefix(project.id, sha)}/{_name(project, view)}")
    for _ in range(3):  # another process may take the next number first: count again
        newest = latest_version(session, project.id)
        if newest is not None and newest.sha256 == sha:
            return newest
        version = LabelVersion(
            project_id=project.id,
            number=(newest.number if newest else 0) + 1,
            sha256=sha,
            source=source,
            user_id=user_id,
            labeled_frames=_labeled_frames(files),
        )
        session.add(version)
        try:
            session.commit()
            return version
        except IntegrityError:  # uq_label_versions_project_number: that number was just taken
            session.rollback()
    raise RuntimeError(f"project {project.id}: could not number a new label version")


def _name(project: Project, view: str) -> str:
    """The name of ``view``'s label file."""
    return labels_key(project.id, project.views, view).rpartition("/")[2]


def latest_version(session: Session, project_id: int) -> LabelVersion | None:
    return session.scalars(
        select(LabelVersion).where(LabelVersion.project_id == project_id).order_by(LabelVersion.number.desc())
    ).first()


def _labeled_frames(files: dict[str, bytes]) -> int:
    """Moments with at least one labeled keypoint in any view."""
    tables = _tables(files)
    labeled = [np.isfinite(t.xy).all(axis=-1).any(axis=-1) for t in tables.values()]
    return int(np.logical_or.reduce(labeled).sum()) if labeled else 0


def _tables(files: dict[str, bytes]) -> dict[str, PoseTable]:
    with tempfile.TemporaryDirectory() as work:
        tables = {}
        for view, content in files.items():
            path = Path(work) / f"{view}.csv"
            path.write_bytes(content)
            tables[view] = read_pose_csv(path)
        return tables


def version_files(storage: Storage, project: Project, version: LabelVersion) -> dict[str, bytes]:
    """View -> the bytes of its label file in ``version`` (views it had no file for left out)."""
    keys = {view: version_key(project, version, view) for view in project.views}
    return {view: _read(storage, key) for view, key in keys.items() if storage.exists(key)}


def version_tables(storage: Storage, project: Project, version: LabelVersion) -> dict[str, PoseTable]:
    """View -> its labels in ``version``."""
    return _tables(version_files(storage, project, version))


def restore_version(
    session: Session, storage: Storage, project: Project, version: LabelVersion, user_id: int | None = None
) -> LabelVersion:
    """Make ``version``'s label files, byte for byte, the project's current ones (a view it had no
    file for loses its file) and return the version that records it: a new one, "restore of version
    N", unless the files already were the newest version's. Nothing is lost: the state it replaces
    is recorded first (when no version holds it yet), so restoring that version undoes the restore.
    Call it under the label files' lock where others write them (the service's Label Studio side)."""
    files = version_files(storage, project, version)
    if not files:
        raise PoseCloudError(
            f"label version {version.number}'s copy of the label files is missing from storage; "
            "restore another version"
        )
    record_version(session, storage, project, f"before restore of version {version.number}")
    for view in project.views:
        key = labels_key(project.id, project.views, view)
        if view in files:
            storage.put_stream([files[view]], key)  # a temporary file, then moved into place
        elif storage.exists(key):
            storage.delete(key)
    restored = record_version(session, storage, project, f"restore of version {version.number}", user_id)
    assert restored is not None  # the files just written
    return restored


@dataclass(frozen=True)
class LabelChanges:
    """What changed from one version to another in one view: labeled frames (image names) added
    and removed, and those whose keypoints moved by more than ``MOVED_PX`` (with the largest move,
    pixels) or were added to or removed from a frame that stayed labeled."""

    added: list[str]
    removed: list[str]
    moved: dict[str, float]
    keypoints_changed: list[str]


def compare(before: PoseTable, after: PoseTable) -> LabelChanges:
    labeled_before, labeled_after = _labeled_rows(before), _labeled_rows(after)
    moved, changed = {}, []
    for image in sorted(labeled_before.keys() & labeled_after.keys()):
        a, b = labeled_before[image], labeled_after[image]
        if not np.array_equal(np.isfinite(a).all(-1), np.isfinite(b).all(-1)):
            changed.append(image)
        distance = np.linalg.norm(a - b, axis=-1)
        if np.nanmax(distance, initial=0.0) > MOVED_PX:
            moved[image] = round(float(np.nanmax(distance)), 2)
    return LabelChanges(
        added=sorted(labeled_after.keys() - labeled_before.keys()),
        removed=sorted(labeled_before.keys() - labeled_after.keys()),
        moved=moved,
        keypoints_changed=changed,
    )


def _labeled_rows(table: PoseTable) -> dict[str, np.ndarray]:
    """Image -> its ``(K, 2)`` keypoints, for the rows with at least one labeled keypoint."""
    labeled = np.isfinite(table.xy).all(axis=-1).any(axis=-1)
    return {image: table.xy[i] for i, image in enumerate(table.index) if labeled[i]}
