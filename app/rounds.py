"""Labeling rounds: the lab's loop of mining frames where the last model fails, labeling them and
retraining, as one object per round (table ``labeling_rounds``).

A round goes through these states, each derived from the records it points at, never stored::

    picking --(frame jobs succeed)--> labeling --(every pick labeled)--> ready to train
        --(POST rounds/{n}/train)--> training --(the training succeeds)--> trained

and ``failed`` when a frame job or the training fails. The first round of a project starts from no
model: its frames are picked for varied postures (k-means on the video's thumbnails); later rounds
start from a trained ensemble (or model) and mine the frames its predictions score worst (ensemble
spread, jumps, Pose PCA error, low confidence; ``core.selection.outliers``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.labelstudio.labels import view_images
from worker.jobs.project_data import session_videos
from worker.state import records, submit
from worker.state.db.models import Ensemble, Job, LabelingRound, Model, Project, Video
from worker.state.label_versions import current_tables, latest_version
from worker.state.picks import Pick, job_picks, video_spread
from worker.state.queue import JobQueue
from worker.state.storage import Storage

# The stop hint: another round is unlikely to help once the last round's training lowered the test
# error by less than this fraction of the round before's (the curve of test error against labeled
# frames has flattened), judged only over rounds whose models trained on more labels.
FLAT_IMPROVEMENT = 0.05
FAILED_STATES = ("failed", "cancelled")


def split_budget(budget: int, frames: dict[int, int]) -> dict[int, int]:
    """Frames to mine per video (``{video id: its frame count}``): proportional to the videos'
    lengths by largest remainders, every video one at least while the budget lasts, none more
    than it has. Videos given no frame are left out."""
    ids = sorted(frames, key=lambda v: (-frames[v], v))
    share = {v: 1 if i < budget else 0 for i, v in enumerate(ids)}
    left = budget - sum(share.values())
    if left > 0:
        total = sum(frames.values())
        exact = {v: left * frames[v] / total for v in ids}
        share = {v: share[v] + int(exact[v]) for v in ids}
        by_remainder = sorted(ids, key=lambda v: (-(exact[v] - int(exact[v])), v))
        for v in by_remainder[: budget - sum(share.values())]:
            share[v] += 1
    return {v: min(n, frames[v]) for v, n in share.items() if n > 0}


def one_per_session(videos: list[Video]) -> list[Video]:
    """``videos`` with one video per session of separate cameras (the first of it listed): a
    session's frames are picked once, for every view together. A single camera's are all kept."""
    seen, kept = set(), []
    for video in videos:
        session = tuple(sorted(v.id for v in session_videos(video).values()))
        if session not in seen:
            seen.add(session)
            kept.append(video)
    return kept


def start_round(
    session: Session,
    queue: JobQueue,
    *,
    project: Project,
    user_id: int,
    videos: list[Video],
    budget: int,
    start_models: list[Model],
    start_name: str | None,
    start_ensemble: Ensemble | None,
    max_attempts: int,
) -> LabelingRound:
    """Record round N+1 and start its frame jobs, one per video: an active selection by
    ``start_models`` (marked ``start_name`` on the pre-annotations), or frames picked for varied
    postures when it starts from no model."""
    number = (
        session.scalar(select(func.max(LabelingRound.number)).where(LabelingRound.project_id == project.id))
        or 0
    ) + 1
    version = latest_version(session, project.id)
    jobs = []
    for video_id, n in split_budget(budget, {v.id: v.frames for v in videos}).items():
        if start_models:
            job = submit.start_selection(
                session,
                queue,
                project_id=project.id,
                user_id=user_id,
                video_id=video_id,
                models=start_models,
                name=start_name or "",
                n=n,
                max_attempts=max_attempts,
            )
        else:
            params = {"video_id": video_id, "n": n}
            job = records.new_job(session, project.id, user_id, "extract_frames", params, max_attempts)
            records.send(session, job, queue)
        jobs.append(job.id)
    one_model = start_models[0] if start_models and start_ensemble is None else None
    labeling_round = LabelingRound(
        project_id=project.id,
        number=number,
        user_id=user_id,
        start_model_id=one_model.id if one_model else None,
        start_ensemble_id=start_ensemble.id if start_ensemble else None,
        video_ids=[v.id for v in videos],
        budget=budget,
        job_ids=jobs,
        label_version_id=version.id if version else None,
    )
    session.add(labeling_round)
    session.commit()
    return labeling_round


@dataclass(frozen=True)
class RoundStatus:
    """What a round's page shows of it."""

    state: str
    picks: list[Pick]  # the first view's row of each picked moment
    labeled: list[bool]  # per pick: does the project's label file hold it now
    spread: float | None  # the start ensemble's median spread on the mined videos, pixels
    trained_models: list[Model]
    test_error: float | None  # the trained models' mean test pixel error (frame pixels)
    labeled_frames: int | None  # the labels the training learned from

    @property
    def labeled_count(self) -> int:
        return sum(self.labeled)


def round_status(
    session: Session,
    storage: Storage,
    project: Project,
    labeling_round: LabelingRound,
    labeled_now: set[str] | None = None,
) -> RoundStatus:
    """The round as it stands: its picks and which are labeled (``labeled_now``: the project's
    ``labeled_images``, read once for many rounds), and its training's results."""
    jobs = [session.get(Job, job_id) for job_id in labeling_round.job_ids]
    jobs = [job for job in jobs if job is not None]
    picks = [
        pick
        for job in jobs
        if job.state == "succeeded"
        for pick in job_picks(storage, job)
        if view_images(project, pick.image)[project.views[0]] == pick.image
    ]
    if labeled_now is None:
        labeled_now = labeled_images(storage, project)
    labeled = [pick.image in labeled_now for pick in picks]
    spreads = [s for s in (video_spread(storage, job) for job in jobs) if s is not None]
    trained = _trained_models(labeling_round)
    version = trained[0].label_version if trained else None
    return RoundStatus(
        state=_state(jobs, labeled, trained),
        picks=picks,
        labeled=labeled,
        spread=float(np.mean(spreads)) if spreads else None,
        trained_models=trained,
        test_error=_test_error(trained),
        labeled_frames=version.labeled_frames if version else None,
    )


def _trained_models(labeling_round: LabelingRound) -> list[Model]:
    if labeling_round.trained_ensemble is not None:
        return list(labeling_round.trained_ensemble.members)
    return [labeling_round.trained_model] if labeling_round.trained_model is not None else []


def labeled_images(storage: Storage, project: Project) -> set[str]:
    """The first view's rows of the project's label file with at least one labeled keypoint."""
    table = current_tables(storage, project).get(project.views[0])
    if table is None:
        return set()
    rows = np.isfinite(table.xy).all(axis=-1).any(axis=-1)
    return {image for image, labeled in zip(table.index, rows, strict=True) if labeled}


def _state(jobs: list[Job], labeled: list[bool], trained: list[Model]) -> str:
    if any(job.state in FAILED_STATES for job in jobs):
        return "failed"
    if any(job.state != "succeeded" for job in jobs):
        return "picking"
    if not trained:
        return "ready to train" if all(labeled) else "labeling"
    training = [m.train_job.state if m.train_job else "failed" for m in trained]
    if any(state in FAILED_STATES for state in training):
        return "failed"
    return "trained" if all(m.summary is not None for m in trained) else "training"


def _test_error(models: list[Model]) -> float | None:
    """The models' mean test pixel error; None until every one has one."""
    errors = [((m.summary or {}).get("pixel_error") or {}).get("test") for m in models]
    if not models or any(e is None for e in errors):
        return None
    return float(np.mean([e["mean"] for e in errors]))


def stop_hint(rounds: list[tuple[int, RoundStatus]]) -> str | None:
    """Says when another round is unlikely to help: the last two trained rounds (by round number,
    with more labels in the later) lowered the test error by less than ``FLAT_IMPROVEMENT``. None
    while fewer than two rounds have a test error."""
    measured = [(n, s) for n, s in rounds if s.test_error is not None and s.labeled_frames is not None]
    if len(measured) < 2:
        return None
    (n0, before), (n1, after) = measured[-2], measured[-1]
    if after.labeled_frames <= before.labeled_frames:
        return None
    gain = (before.test_error - after.test_error) / before.test_error
    if gain >= FLAT_IMPROVEMENT:
        return None
    return (
        f"Another round is unlikely to help: from round {n0} to round {n1} the labeled frames went from "
        f"{before.labeled_frames} to {after.labeled_frames} but the test error only from "
        f"{before.test_error:.2f} to {after.test_error:.2f} px ({abs(gain):.0%} {'lower' if gain >= 0 else 'higher'}; "
        f"a round is worth it while it lowers the error by {FLAT_IMPROVEMENT:.0%} or more). Look at the worst "
        "frames in Diagnostics: "
        "if they are errors of a kind the labels do not cover, label those; otherwise the model is as "
        "good as these labels make it."
    )


def shorter_schedule(train: dict) -> dict:
    """A fine-tuning's schedule: half the epochs of ``train`` (at least one), its learning-rate
    milestones halved alike, no frozen-backbone warm-up (the backbone is already trained)."""
    epochs = max(1, int(train.get("epochs", 1)) // 2)
    milestones = sorted({int(m) // 2 for m in train.get("lr_milestones", []) if 1 <= int(m) // 2 < epochs})
    return {"epochs": epochs, "lr_milestones": milestones, "freeze_backbone_epochs": 0}
