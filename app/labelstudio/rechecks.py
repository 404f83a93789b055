"""Labelers' consistency with themselves: a fraction of each labeler's frames shown to them again,
blind, and how far their second labels land from their first, in pixels per keypoint.

A re-shown frame is a second Label Studio task for the same image with no annotation and no
prediction (``LabelRecheck``). Nothing on it says which frame it repeats: its images are served
under a random name (``labels.SHOWN_AGAIN``), not the frame's own address, and the frames chosen are shown
in a shuffled order, not the order they were first labeled in. Its annotations never reach the
label files: the sync writes only the frames' own tasks. The figure is each labeler's own
disagreement: a re-shown frame labeled by someone else is counted apart, not mixed in.
"""

from __future__ import annotations

import math
import random
import re
import secrets
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.labelstudio.labels import SHOWN_AGAIN, annotation_points, task_data, view_images
from app.labelstudio.projects import LabelStudio, annotation_author, newest_annotation
from core.errors import PoseCloudError
from worker.state.db.models import LabelRecheck, LabelStudioProject, Project

_ALIASED = re.compile(rf"{SHOWN_AGAIN}/([A-Za-z0-9_-]+)-(\d+)\.[A-Za-z0-9]+")


def aliased_image(session: Session, project: Project, name: str) -> str | None:
    """The project image that a re-shown frame's image name (``SHOWN_AGAIN``) stands for; None when
    it names no recheck of ``project``."""
    match = _ALIASED.fullmatch(name)
    if match is None:
        return None
    recheck = session.scalar(
        select(LabelRecheck).where(LabelRecheck.project_id == project.id, LabelRecheck.alias == match[1])
    )
    images = list(view_images(project, recheck.image).values()) if recheck is not None else []
    view = int(match[2])
    return images[view] if view < len(images) else None


def show_again(
    ls: LabelStudio, session: Session, project: Project, fraction: float, rng: random.Random
) -> dict[str, int]:
    """Re-show ``fraction`` (at least one frame) of each labeler's frames not re-shown before, chosen
    at random and shown in a random order; returns how many frames each labeler (posecloud
    username) gets again. Two owners asking at once get the frames shown once: the second finds
    them shown already."""
    with ls.files.lock(project.id, "rechecks"):
        return _show_again(ls, session, project, fraction, rng)


def _show_again(
    ls: LabelStudio, session: Session, project: Project, fraction: float, rng: random.Random
) -> dict[str, int]:
    record = session.get(LabelStudioProject, project.id)
    if record is None:
        raise PoseCloudError("the project has no labeling page yet: prepare it and label frames first")
    usernames = ls.usernames(session)
    images = ls.live_tasks(session, project)  # the frames' own tasks, not re-shown ones
    shown = set(
        session.scalars(select(LabelRecheck.original_ls_task_id).where(LabelRecheck.project_id == project.id))
    )
    by_labeler: dict[int, list[int]] = defaultdict(list)
    for task in ls.export_tasks(record):
        labels = newest_annotation(task) if task["id"] in images else None
        author = annotation_author(labels) if labels else None
        if author in usernames and task["id"] not in shown:  # uploaded labels are nobody's to re-check
            by_labeler[author].append(task["id"])
    chosen = [
        (author, task_id)
        for author, tasks in sorted(by_labeler.items())
        for task_id in sorted(rng.sample(tasks, min(len(tasks), math.ceil(fraction * len(tasks)))))
    ]
    if not chosen:
        return {}
    rng.shuffle(chosen)  # not in the order they were labeled in
    aliases = [secrets.token_urlsafe(18) for _ in chosen]
    made = ls.import_tasks(
        record,
        [
            {"data": task_data(project, images[task_id], alias)}
            for (_, task_id), alias in zip(chosen, aliases, strict=True)
        ],
    )
    for ls_task_id, (author, task_id), alias in zip(made, chosen, aliases, strict=True):
        session.add(
            LabelRecheck(
                ls_task_id=ls_task_id,
                project_id=project.id,
                image=images[task_id],
                original_ls_task_id=task_id,
                labeler_ls_user_id=author,
                alias=alias,
            )
        )
    session.commit()
    counts: dict[str, int] = defaultdict(int)
    for author, _ in chosen:
        counts[usernames[author]] += 1
    return dict(counts)


@dataclass
class Consistency:
    """One labeler's re-shown frames: how many, how many they labeled again (``relabeled``), how many
    someone else labeled instead (``by_others``), and per keypoint the distances in pixels between
    their two labels of a frame (every view's)."""

    shown: int = 0
    relabeled: int = 0
    by_others: int = 0
    distances: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def median_px(self, keypoint: str | None = None) -> float | None:
        values = self.distances.get(keypoint, []) if keypoint else sum(self.distances.values(), [])
        return statistics.median(values) if values else None


def consistency(ls: LabelStudio, session: Session, project: Project) -> dict[str | None, Consistency]:
    """Each labeler's (posecloud username) consistency with themself on their re-shown frames."""
    rechecks = session.scalars(
        select(LabelRecheck).where(LabelRecheck.project_id == project.id).order_by(LabelRecheck.ls_task_id)
    ).all()
    record = session.get(LabelStudioProject, project.id)
    if record is None or not rechecks:
        return {}
    usernames = ls.usernames(session)
    exported = {task["id"]: task for task in ls.export_tasks(record)}
    out: dict[str | None, Consistency] = {}
    for recheck in rechecks:
        again, original = exported.get(recheck.ls_task_id), exported.get(recheck.original_ls_task_id)
        if again is None:  # deleted in Label Studio: no longer shown
            continue
        figures = out.setdefault(usernames.get(recheck.labeler_ls_user_id), Consistency())
        figures.shown += 1
        second = newest_annotation(again, by=recheck.labeler_ls_user_id)
        if second is None:
            figures.by_others += newest_annotation(again) is not None
            continue
        figures.relabeled += 1
        first = newest_annotation(original, by=recheck.labeler_ls_user_id) if original else None
        if first is None:  # their first labels were deleted since: nothing to compare with
            continue
        before, after = (
            annotation_points(first["result"], project),
            annotation_points(second["result"], project),
        )
        for view in project.views:
            distance = np.linalg.norm(after[view] - before[view], axis=-1)
            for keypoint, d in zip(project.keypoints, distance, strict=True):
                if np.isfinite(d):
                    figures.distances[keypoint].append(float(d))
    return out
