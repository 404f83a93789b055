"""The Label Studio side of posecloud projects: one Label Studio project each (its labeling
interface, instructions and webhook), one task per labeled moment, and the labels kept in step.

Which side is the source of truth:
- Label Studio, for the labels of every frame that is a task: a submitted, updated or deleted
  annotation (webhook, within a second) or a skipped or deleted task reaches the label file, and the
  periodic reconciliation rewrites the label file from Label Studio's annotations (catching up with
  hooks that were missed: Label Studio down, a hook that failed, "delete all tasks").
- posecloud, for which frames are tasks (labeled rows and the frames extraction picked) and for the
  labeling interface (a config edited by hand in Label Studio is put back). A label file the
  service writes (an upload, a restored version) is the exception: Label Studio's annotations are
  brought in line with it (``LabelStudio.replace_labels``), and its rows become tasks, with their
  labels, for frames that had none.

A model's keypoints reach the tasks as predictions (pre-annotations), pushed by the service once
the job that made them has succeeded (``app.labelstudio.predictions``).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import numpy as np
from label_studio_sdk import LabelStudio as SDK
from label_studio_sdk.core.api_error import ApiError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.labelstudio import predictions
from app.labelstudio.accounts import Accounts, LabelStudioDown
from app.labelstudio.config import instructions, label_config
from app.labelstudio.labels import (
    SAME_PX,
    LabelFiles,
    annotation_points,
    annotation_result,
    image_size,
    set_rows,
    settled,
    task_data,
    view_images,
)
from app.labelstudio.server import LabelStudioServer
from core.errors import PoseCloudError
from worker.state.db.models import (
    LabelStudioAccount,
    LabelStudioProject,
    LabelStudioTask,
    Project,
    User,
    utcnow,
)
from worker.state.label_versions import record_version
from worker.state.picks import project_picks
from worker.state.storage import Storage

log = logging.getLogger(__name__)
T = TypeVar("T")
HOOK_ACTIONS = ["ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED", "TASKS_DELETED"]
LABEL_STUDIO = "labelstudio"  # the source of the label versions its annotations make
RECONCILING = "reconcile"  # the lock of the work that reads Label Studio's annotations as a whole


class LabelStudio:
    """The service's handle on Label Studio: the admin's API client, the user accounts and the
    project label files."""

    def __init__(self, server: LabelStudioServer, storage: Storage, locks: Path, hook_url: str) -> None:
        self.server, self.storage = server, storage
        self.accounts = Accounts(server)
        self.files = LabelFiles(storage, locks)
        self.hook_url = hook_url.rstrip("/")
        self.admin = SDK(base_url=server.url, api_key=server.secrets.token, timeout=60)
        self._owners: dict[tuple[str, int], int | None] = {}

    def owner_of(self, kind: str, object_id: int) -> int | None:
        """The task an annotation, draft or prediction belongs to (for a data-manager view: its
        project), asked of Label Studio by the admin; remembered, since none of them ever moves."""
        if (kind, object_id) not in self._owners:
            path = {
                "annotation": "annotations",
                "draft": "drafts",
                "prediction": "predictions",
                "view": "dm/views",
            }
            try:
                body = self._call("GET", f"/api/{path[kind]}/{object_id}/").json()
            except LabelStudioDown:
                raise
            except PoseCloudError:  # not found
                return None
            self._owners[kind, object_id] = body.get("project") if kind == "view" else body.get("task")
        return self._owners[kind, object_id]

    def _sdk(self, call, *args, **kwargs):
        """A label-studio-sdk call; Label Studio down becomes LabelStudioDown, a refusal a clear error."""
        try:
            return call(*args, **kwargs)
        except httpx.TransportError as e:
            raise LabelStudioDown.because(e) from None
        except ApiError as e:
            raise PoseCloudError(
                f"Label Studio refused the request: {e.status_code} {str(e.body)[:300]}"
            ) from None

    def _call(self, method: str, path: str, **kwargs) -> httpx.Response:
        """The admin's raw REST call; Label Studio down becomes LabelStudioDown."""
        try:
            resp = httpx.request(
                method,
                self.server.url + path,
                headers={"Authorization": f"Token {self.server.secrets.token}"},
                timeout=120,
                **kwargs,
            )
        except httpx.TransportError as e:
            raise LabelStudioDown.because(e) from None
        if resp.status_code >= 400:
            raise PoseCloudError(
                f"Label Studio refused {method} {path}: {resp.status_code} {resp.text[:300]}"
            )
        return resp

    # --- the project -------------------------------------------------------------------------

    def ensure_project(self, session: Session, project: Project) -> LabelStudioProject:
        """The project's Label Studio project, made on first use (interface, instructions, webhook)."""
        record = session.get(LabelStudioProject, project.id)
        if record is not None:
            return record
        with self.files.lock(project.id):  # two first requests at once make one project
            session.expire_all()
            return session.get(LabelStudioProject, project.id) or self._make_project(session, project)

    def _make_project(self, session: Session, project: Project) -> LabelStudioProject:
        config = label_config(project.keypoints, project.views)
        made = self._sdk(
            self.admin.projects.create,
            title=f"{project.name} (posecloud project {project.id})"[:50],
            label_config=config,
            expert_instruction=instructions(project.keypoints, [tuple(e) for e in project.skeleton]),
            show_instruction=True,
            show_skip_button=True,
            maximum_annotations=1,
        )
        secret = secrets.token_hex(24)
        self._sdk(
            self.admin.webhooks.create,
            project=made.id,
            url=f"{self.hook_url}/{project.id}",
            send_payload=True,
            send_for_all_actions=False,
            actions=HOOK_ACTIONS,
            headers={"X-Posecloud-Hook": secret},
        )
        record = LabelStudioProject(
            project_id=project.id, ls_project_id=made.id, label_config=config, hook_secret=secret
        )
        session.add(record)
        session.commit()
        return record

    def check_config(self, session: Session, project: Project) -> str | None:
        """Put the project's labeling interface back when it differs from posecloud's (edited by hand
        in Label Studio, or the keypoints changed here); returns what was done, or None."""
        record = self.ensure_project(session, project)
        wanted = label_config(project.keypoints, project.views)
        found = self._sdk(self.admin.projects.get, record.ls_project_id).label_config
        if found.strip() == wanted.strip():
            return None
        self._sdk(self.admin.projects.update, record.ls_project_id, label_config=wanted)
        record.label_config = wanted
        session.commit()
        edited = "edited in Label Studio" if found.strip() == record.label_config.strip() else "out of date"
        return f"the labeling interface was {edited}; posecloud's (the project's keypoints) was put back"

    # --- tasks ---------------------------------------------------------------------------------

    def picked_frames(self, session: Session, project: Project) -> list[str]:
        """The first view's row names of the frames frame extraction picked, in job order."""
        images = [pick.image for pick in project_picks(session, self.storage, project.id)]
        # with separate cameras each moment is listed once per view: keep the first view's
        return [img for img in images if view_images(project, img)[project.views[0]] == img]

    def sync_tasks(self, session: Session, project: Project) -> list[str]:
        """Make a task for every labeled or picked moment that has none (a task deleted in Label
        Studio is not made again); labeled moments come with their labels as annotations. Returns
        the (first view's) row names of the tasks made."""
        record = self.ensure_project(session, project)
        with self.files.lock(project.id):  # the periodic sync and a request must not both make them
            return self._make_tasks(session, project, record)

    def _make_tasks(self, session: Session, project: Project, record: LabelStudioProject) -> list[str]:
        known = set(
            session.scalars(select(LabelStudioTask.image).where(LabelStudioTask.project_id == project.id))
        )
        tables = self.files.read(project)
        first = tables[project.views[0]]
        wanted = [img for img in [*first.index, *self.picked_frames(session, project)] if img not in known]
        wanted = list(dict.fromkeys(wanted))
        if not wanted:
            return []
        rows = {view: {name: i for i, name in enumerate(t.index)} for view, t in tables.items()}
        tasks = []
        for image in wanted:
            task = {"data": task_data(project, image)}
            images = view_images(project, image)
            if image in rows[project.views[0]]:
                points = {
                    v: tables[v].values[rows[v][images[v]], :, :2]
                    for v in project.views
                    if images[v] in rows[v]
                }
                sizes = {v: image_size(self.storage, project.id, images[v]) for v in points}
                result = annotation_result(points, sizes, project)
                if result:
                    task["annotations"] = [{"result": result}]
            tasks.append(task)
        for task_id, image in zip(self.import_tasks(record, tasks), wanted, strict=True):
            session.add(LabelStudioTask(ls_task_id=task_id, project_id=project.id, image=image))
        session.commit()
        return wanted

    def push_predictions(self, session: Session, project: Project) -> int:
        """Put the pre-annotations of every finished job not pushed yet on their tasks
        (``app.labelstudio.predictions``); returns how many were made."""
        record = self.ensure_project(session, project)
        made = 0
        with self.files.lock(project.id):  # the periodic sync and a request must not both push
            for job in predictions.unpushed_jobs(session, self.storage, project):
                table = predictions.read_preannotations(self.storage, job, project)
                tasks = session.scalars(
                    select(LabelStudioTask).where(LabelStudioTask.project_id == project.id)
                ).all()
                payload = predictions.task_predictions(self.storage, project, table, tasks)
                if payload is None:  # its picks' tasks are made by the next sync
                    continue
                if payload:
                    created = self._call(
                        "POST", f"/api/projects/{record.ls_project_id}/import/predictions", json=payload
                    ).json()["created"]
                    if created != len(payload):  # Label Studio skips what it finds invalid (logged there)
                        raise PoseCloudError(
                            f"Label Studio took {created} of job {job.id}'s {len(payload)} pre-annotations"
                        )
                predictions.mark_pushed(self.storage, job, len(payload))
                made += len(payload)
        return made

    # --- labels back into the project ------------------------------------------------------------

    def import_tasks(self, record: LabelStudioProject, tasks: list[dict]) -> list[int]:
        """Add ``tasks`` (each ``{"data": ..., "annotations"?: ...}``) to the Label Studio project; their ids, in order."""
        made = self._sdk(
            self.admin.projects.import_tasks, record.ls_project_id, request=tasks, return_task_ids=True
        )
        return list(made.task_ids)

    def usernames(self, session: Session) -> dict[int, str]:
        """Label Studio user id -> posecloud username, for every posecloud user with an account there
        (posecloud's own account, the annotator of uploaded labels, is not among them)."""
        return dict(
            session.execute(
                select(LabelStudioAccount.ls_user_id, User.username).join(
                    User, User.id == LabelStudioAccount.user_id
                )
            ).all()
        )

    def live_tasks(self, session: Session, project: Project) -> dict[int, str]:
        """The project's frames' tasks not deleted in Label Studio: task id -> image."""
        return dict(
            session.execute(
                select(LabelStudioTask.ls_task_id, LabelStudioTask.image).where(
                    LabelStudioTask.project_id == project.id, LabelStudioTask.deleted_at.is_(None)
                )
            ).all()
        )

    def task_of(self, session: Session, project: Project, ls_task_id: int) -> LabelStudioTask | None:
        task = session.get(LabelStudioTask, ls_task_id)
        return task if task is not None and task.project_id == project.id else None

    def apply_annotation(self, session: Session, project: Project, annotation: dict) -> bool:
        """One submitted or updated annotation into the label files (a skipped one removes the
        frame's labels); False when its task is not one of the project's."""
        task = self.task_of(session, project, annotation.get("task"))
        if task is None:
            return False
        points = None if annotation.get("was_cancelled") else annotation_points(annotation["result"], project)
        with self.files.lock(project.id):
            current = self.files.read(project)
            tables = settled(set_rows(current, view_images(project, task.image), points), current)
            if not all(_same(tables[v], current[v]) for v in tables):  # an unchanged file is left alone
                self.files.write(project, tables)
                author = _user_of(session, annotation_author(annotation))
                record_version(session, self.storage, project, LABEL_STUDIO, author)
        return True

    def reconcile(self, session: Session, project: Project) -> dict:
        """Rewrite the label files from Label Studio's annotations: per task the newest one that
        was not skipped; tasks deleted in Label Studio are marked so and lose their labels. Keypoints
        that came back unmoved keep the label file's values (``settled``)."""
        record = self.ensure_project(session, project)
        with self.files.lock(project.id, RECONCILING):  # no replacement between the export and the write
            by_id = {t["id"]: t for t in self.export_tasks(record)}
            labeled = self._rewrite_labels(session, project, by_id)
        record.synced_at = utcnow()
        session.commit()
        return {"tasks": len(by_id), "labeled": labeled}

    def export_tasks(self, record: LabelStudioProject) -> list[dict]:
        """Every task of the Label Studio project with its annotations (the unlabeled ones too)."""
        return self._call(
            "GET",
            f"/api/projects/{record.ls_project_id}/export",
            params={"exportType": "JSON", "download_all_tasks": "true"},
        ).json()

    def _rewrite_labels(self, session: Session, project: Project, by_id: dict[int, dict]) -> int:
        """The label files rewritten from the exported tasks (``by_id``); returns the labeled ones."""
        tasks = session.scalars(
            select(LabelStudioTask)
            .where(LabelStudioTask.project_id == project.id, LabelStudioTask.deleted_at.is_(None))
            .order_by(LabelStudioTask.ls_task_id)
        ).all()
        with self.files.lock(project.id):
            current = self.files.read(project)
            tables = {
                view: type(t)(list(project.keypoints), [], np.zeros((0, len(project.keypoints), 2)))
                for view, t in current.items()
            }
            labeled, authors = 0, {}  # row name -> the Label Studio user who labeled it
            for task in tasks:
                found = by_id.get(task.ls_task_id)
                if found is None:
                    task.deleted_at = utcnow()
                    continue
                newest = newest_annotation(found)
                if newest is None:
                    continue
                rows = view_images(project, task.image)
                tables = set_rows(tables, rows, annotation_points(newest["result"], project))
                authors |= dict.fromkeys(rows.values(), annotation_author(newest))
                labeled += 1
            tables = settled(tables, current)
            if not all(_same(tables[v], current[v]) for v in tables):  # an unchanged file is left alone
                self.files.write(project, tables)
                # the version names who changed the labels when that was one person
                changed_by = {authors.get(row) for row in _changed_rows(tables, current)}
                author = _user_of(session, changed_by.pop()) if len(changed_by) == 1 else None
                record_version(session, self.storage, project, LABEL_STUDIO, author)
        return labeled

    # --- a label version restored ---------------------------------------------------------------

    def replace_labels(self, session: Session, project: Project, write: Callable[[], T]) -> T:
        """Run ``write``, which replaces the project's label files (an upload, a restored version),
        and bring Label Studio's annotations in line with what it wrote, so that the sync keeps it:

        - a task whose labels differ gets a new annotation, by posecloud, with the file's keypoints
          (the labelers' own annotations stay, older, in the task's history);
        - a task the file does not label loses its annotations and stays, unlabeled, to be labeled
          again (its labels are in the label version the write replaced);
        - a frame the file labels whose task was deleted in Label Studio gets a new task.

        Label Studio is read first, so nothing is written while it is down, and no reconciliation
        runs until this is done. Should it stop answering midway, the label file holds the new
        labels and writing them again finishes Label Studio's side."""
        record = session.get(LabelStudioProject, project.id)
        with self.files.lock(project.id, RECONCILING):
            exported = self.export_tasks(record) if record is not None else []
            with self.files.lock(project.id):
                written = write()
            if record is not None:
                self._align(session, project, record, {t["id"]: t for t in exported})
        return written

    def _align(
        self, session: Session, project: Project, record: LabelStudioProject, by_id: dict[int, dict]
    ) -> None:
        """Label Studio's annotations made to hold the label files' labels (``replace_labels``); ``by_id``:
        its tasks, exported."""
        labels = _moments(self.files.read(project), project)
        tasks = session.scalars(select(LabelStudioTask).where(LabelStudioTask.project_id == project.id)).all()
        live = [t for t in tasks if t.deleted_at is None and t.ls_task_id in by_id]
        for task in tasks:  # a labeled frame without a live task: made again by sync_tasks
            if task not in live and task.image in labels:
                session.delete(task)
        session.commit()
        self.sync_tasks(session, project)
        cleared = []
        for task in live:
            wanted = labels.get(task.image)
            newest = newest_annotation(by_id[task.ls_task_id])
            if wanted is None:
                if newest is not None:
                    cleared.append(task.ls_task_id)
            elif newest is None or not _close(annotation_points(newest["result"], project), wanted):
                images = view_images(project, task.image)
                sizes = {v: image_size(self.storage, project.id, images[v]) for v in project.views}
                result = annotation_result(wanted, sizes, project)
                self._call("POST", f"/api/tasks/{task.ls_task_id}/annotations/", json={"result": result})
        if cleared:  # at once: one webhook, whose reconciliation waits for the replacement
            self._call(
                "POST",
                "/api/dm/actions",
                params={"id": "delete_tasks_annotations", "project": record.ls_project_id},
                json={"selectedItems": {"all": False, "included": cleared}},
            )

    def project_users(self, session: Session, project: Project) -> list[dict]:
        """The Label Studio users of the project's owner and members (those who have one), and
        posecloud's own, the annotator of the labels that came in an upload: the data manager's
        task list draws each annotation's annotator from this list, and shows nothing at all when
        one is missing."""
        people = [project.owner_id, *(m.user_id for m in project.members)]
        accounts = session.scalars(select(LabelStudioAccount).where(LabelStudioAccount.user_id.in_(people)))
        users = [self._call("GET", f"/api/users/{a.ls_user_id}/").json() for a in accounts]
        importer = self._call("GET", "/api/current-user/whoami").json()
        shown = {k: importer.get(k) for k in ("id", "username", "initials", "avatar")}
        return [*users, {**shown, "email": "", "first_name": "posecloud", "last_name": "(uploaded labels)"}]

    def progress(self, session: Session, project: Project) -> dict:
        """Frames labeled of the tasks, and per keypoint how many frames have it (first view)."""
        total = session.scalar(
            select(func.count()).where(
                LabelStudioTask.project_id == project.id, LabelStudioTask.deleted_at.is_(None)
            )
        )
        first = self.files.read(project)[project.views[0]]
        present = np.isfinite(first.values[..., :2]).all(axis=-1)
        return {
            "frames": int(total or 0),
            "labeled": int(present.any(axis=1).sum()),
            "keypoints": {k: int(present[:, i].sum()) for i, k in enumerate(project.keypoints)},
        }

    def labelers(self, session: Session, project: Project) -> dict[str | None, LabelerWork]:
        """Who labeled the project's tasks: per posecloud username (None: labels that came with an
        upload or import, annotated by the service), the first-view images whose labels are theirs
        (the task's newest annotation that was not skipped) and the seconds Label Studio timed them
        at (its ``lead_time``, from opening the task to submitting)."""
        record = session.get(LabelStudioProject, project.id)
        if record is None:
            return {}
        users = self.usernames(session)
        images = self.live_tasks(session, project)
        work: dict[str | None, LabelerWork] = {}
        for task in self.export_tasks(record):
            annotation = newest_annotation(task)
            if annotation is None or task["id"] not in images:
                continue
            who = users.get(annotation_author(annotation))
            done = work.setdefault(who, LabelerWork([], []))
            done.images.append(images[task["id"]])
            if annotation.get("lead_time"):
                done.seconds.append(float(annotation["lead_time"]))
        return work


@dataclass(frozen=True)
class LabelerWork:
    images: list[str]
    seconds: list[float]


def annotation_author(annotation: dict) -> int | None:
    """The Label Studio user id of an annotation's author (the export names them by id, or as the
    user's object)."""
    author = annotation.get("completed_by")
    return author.get("id") if isinstance(author, dict) else author


def keep_labels_in_step(
    ls: LabelStudio, sessions: sessionmaker[Session], every_s: float, stop: threading.Event
) -> threading.Thread:
    """Start a thread that, every ``every_s`` until ``stop``, makes tasks for newly picked frames,
    pushes the pre-annotations of finished jobs and reconciles the label files of every project that has a Label Studio project (catching up
    with what the webhooks missed). Label Studio being down is logged and tried again next round."""

    def loop() -> None:
        while not stop.wait(every_s):
            with sessions() as session:
                for record in session.scalars(select(LabelStudioProject)).all():
                    project = session.get(Project, record.project_id)
                    try:
                        ls.sync_tasks(session, project)
                        ls.push_predictions(session, project)
                        ls.reconcile(session, project)
                    except Exception as e:  # down, restarting, a project mid-deletion: next round
                        session.rollback()
                        log.warning("labels of project %d not reconciled: %s", record.project_id, e)

    thread = threading.Thread(target=loop, daemon=True, name="labelstudio-sync")
    thread.start()
    return thread


def newest_annotation(task: dict, by: int | None = None) -> dict | None:
    """An exported task's newest annotation that was not skipped: the one that holds its labels (``by``:
    the newest by that Label Studio user)."""
    done = [
        a
        for a in task["annotations"]
        if not a.get("was_cancelled") and (by is None or annotation_author(a) == by)
    ]
    return max(done, key=lambda a: (a["updated_at"], a["id"])) if done else None


def _moments(tables: dict, project: Project) -> dict[str, dict[str, np.ndarray]]:
    """Each moment of the label tables (its first view's row name) -> view -> ``(K, 2)`` pixels
    (NaN where a view has no row for it)."""
    rows = {view: {name: i for i, name in enumerate(t.index)} for view, t in tables.items()}
    missing = np.full((len(project.keypoints), 2), np.nan)
    moments = {}
    for image in tables[project.views[0]].index:
        images = view_images(project, image)
        moments[image] = {
            v: tables[v].values[rows[v][images[v]], :, :2] if images[v] in rows[v] else missing
            for v in project.views
        }
    return moments


def _close(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    """Whether two moments' keypoints (view -> ``(K, 2)``) are the same within ``SAME_PX``."""
    return all(np.allclose(a[v], b[v], rtol=0, atol=SAME_PX, equal_nan=True) for v in a)


def _user_of(session: Session, ls_user_id: int | None) -> int | None:
    """The posecloud user of a Label Studio user; None for one posecloud did not make (its admin)."""
    if ls_user_id is None:
        return None
    return session.scalar(
        select(LabelStudioAccount.user_id).where(LabelStudioAccount.ls_user_id == ls_user_id)
    )


def _changed_rows(tables: dict, before: dict) -> set[str]:
    """The rows (any view's) added, removed or changed from the tables ``before`` to ``tables``."""
    changed = set()
    for view, table in tables.items():
        old = dict(zip(before[view].index, before[view].values[..., :2], strict=True))
        new = dict(zip(table.index, table.values[..., :2], strict=True))
        changed |= old.keys() ^ new.keys()
        changed |= {
            row for row in old.keys() & new.keys() if not np.array_equal(old[row], new[row], equal_nan=True)
        }
    return changed


def _same(a, b) -> bool:
    return a.index == b.index and np.array_equal(a.values[..., :2], b.values[..., :2], equal_nan=True)
