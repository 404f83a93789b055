"""Job records: the states a job moves through, written to the database by the service and workers.

    waiting ──(its inputs are ready)──> queued ──(a slot claims it)──> running ──> succeeded
       │                                  ^                               │  └──> failed / cancelled
       │                                  └─ retry / lost worker / hand back ┘
       └──(a group: all its children succeeded)──> succeeded

A parent job waits for its children: a smoothing job for its members' predictions (then it is
queued and runs), an ensemble's training group for its members' trainings (a group has no work of
its own: it succeeds when they all have). When a child fails or is cancelled the parent ends the
same way at once, naming the child and its error; the other children run to the end (their results
stay usable), and retrying the parent reruns only the children that did not succeed. Until a parent
reports progress of its own it reads as its children's aggregate (``worker.state.progress``).

Every new delivery (claim after a retry, a reap, a hand-back) starts with clean progress, worker and
log; the earlier attempt's outcome, error and log tail are appended to ``history``.

Every change is a conditional UPDATE, so two processes racing (a duplicate message, a cancel during
a claim, two reapers) cannot both win.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from worker.state.db.models import Job, utcnow
from worker.state.progress import JobProgress, members_progress
from worker.state.queue import JobQueue

ACTIVE = ("waiting", "queued", "running")
FINISHED = ("succeeded", "failed", "cancelled")
LOG_TAIL_CHARS = 8000
GROUP_KINDS = ("ensemble",)  # parents with no work of their own: they end with their children


class JobStateError(Exception):
    """The requested change does not apply to the job's current state."""


def new_job(
    session: Session,
    project_id: int,
    user_id: int | None,
    kind: str,
    params: dict,
    max_attempts: int,
    parent: Job | None = None,
) -> Job:
    """Add a job record (state waiting until it is sent) and flush it so it has an id."""
    job = Job(
        project_id=project_id,
        user_id=user_id,
        kind=kind,
        params=params,
        state="waiting",
        attempt=1,
        max_attempts=max_attempts,
        cancel_requested=False,
        progress={},
        log_tail="",
        artifacts={},
        history=[],
        parent_id=parent.id if parent else None,
    )
    session.add(job)
    session.flush()
    return job


def send(session: Session, job: Job, queue: JobQueue) -> None:
    """Mark ``job`` queued (committing it) and hand it to Redis; a failed send is retried by the reaper."""
    job.state, job.queued_at, job.broker_run_id = "queued", utcnow(), None
    session.commit()
    run_id = queue.send(job.id, job.attempt)
    if run_id is not None:
        session.execute(
            update(Job).where(Job.id == job.id, Job.attempt == job.attempt).values(broker_run_id=run_id)
        )
        session.commit()
        session.refresh(job)


def claim(session: Session, job_id: int, attempt: int, worker: str) -> Job | None:
    """Move a queued job to running for this delivery; None if the message is stale or a duplicate."""
    now = utcnow()
    claimed = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.attempt == attempt, Job.state == "queued")
        .values(
            state="running",
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
            worker=worker,
            progress={},
            log_tail="",
            error=None,
        )
    ).rowcount
    session.commit()
    return session.get(Job, job_id) if claimed else None


def still_mine(session: Session, job_id: int, attempt: int) -> bool:
    """Whether this delivery still owns the running job (a reaper may have handed it on)."""
    state = session.scalar(select(Job.state).where(Job.id == job_id, Job.attempt == attempt))
    return state == "running"


def heartbeat(
    session: Session, job_id: int, attempt: int, progress: JobProgress | None, log_tail: str
) -> bool:
    """Record that the job is alive (with its latest progress); returns whether a cancel was asked."""
    values: dict = {"heartbeat_at": utcnow(), "log_tail": log_tail[-LOG_TAIL_CHARS:]}
    if progress is not None:
        values["progress"] = progress.model_dump(mode="json")
    session.execute(
        update(Job).where(Job.id == job_id, Job.attempt == attempt, Job.state == "running").values(**values)
    )
    session.commit()
    return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def finish(
    session: Session,
    job_id: int,
    attempt: int,
    state: str,
    *,
    error: str | None = None,
    artifacts: dict | None = None,
    progress: JobProgress | None = None,
    log_tail: str = "",
) -> bool:
    """End this delivery of a running job as succeeded, failed or cancelled, with its final progress
    (a job shorter than one heartbeat still shows it); False if it lost the job.

    A job whose cancel was asked never ends succeeded, even when its work finished before it saw
    the request: the state is decided in the UPDATE itself, so a cancel that lands between the
    handler's return and this write still wins."""
    values: dict = {
        "finished_at": utcnow(),
        "error": error,
        "log_tail": log_tail[-LOG_TAIL_CHARS:],
    }
    if state == "succeeded":
        values["state"] = case((Job.cancel_requested, "cancelled"), else_="succeeded")
        values["error"] = case((Job.cancel_requested, "cancelled by a user"), else_=None)
    else:
        values["state"] = state
    if artifacts is not None:
        values["artifacts"] = artifacts
    if progress is not None:
        values["progress"] = progress.model_dump(mode="json")
    done = session.execute(
        update(Job).where(Job.id == job_id, Job.attempt == attempt, Job.state == "running").values(**values)
    ).rowcount
    session.commit()
    return bool(done)


def _attempt_record(job: Job, outcome: str, error: str | None) -> dict:
    """What ``history`` keeps of the attempt that ``job`` holds now."""
    times = {"started_at": job.started_at, "finished_at": job.finished_at or utcnow()}
    return {
        "attempt": job.attempt,
        "outcome": outcome,
        "error": error,
        "worker": job.worker,
        **{name: t.isoformat() if t else None for name, t in times.items()},
        "log_tail": job.log_tail,
    }


def hand_back(session: Session, job_id: int, attempt: int, queue: JobQueue) -> bool:
    """Return a running job to the queue because its worker is shutting down (not the job's fault, so
    it costs no attempt); the next worker resumes it."""
    job = session.get(Job, job_id)
    session.refresh(job)
    past = _attempt_record(job, "handed back", "its worker stopped (shutdown); resumed by the next worker")
    handed = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.attempt == attempt, Job.state == "running")
        .values(
            attempt=attempt + 1,
            max_attempts=Job.max_attempts + 1,
            heartbeat_at=None,
            history=[*job.history, past],
        )
    ).rowcount
    session.commit()
    if handed:
        session.refresh(job)
        send(session, job, queue)
    return bool(handed)


def cancel(session: Session, job: Job) -> None:
    """Cancel a job and its unfinished children: at once if not running, else at its next progress report."""
    if job.state in FINISHED:
        raise JobStateError(
            f"job {job.id} already {job.state}; only waiting, queued or running jobs can be cancelled"
        )
    for child in job.children:
        if child.state in ACTIVE:
            cancel(session, child)
    if job.state == "running":
        job.cancel_requested = True
    else:
        job.state, job.finished_at, job.error = "cancelled", utcnow(), "cancelled by a user"
    session.commit()


def retry(session: Session, job: Job, queue: JobQueue) -> None:
    """Run a failed or cancelled job again (a training resumes from its last checkpoint); a parent job
    retries its failed children first and runs once they all succeed."""
    if job.state not in ("failed", "cancelled"):
        raise JobStateError(f"job {job.id} is {job.state}; only failed or cancelled jobs can be retried")
    job.max_attempts += 1 if job.attempt >= job.max_attempts else 0
    job.history = [*job.history, _attempt_record(job, job.state, job.error)]
    _reset(job, job.attempt + 1)
    unfinished = [c for c in job.children if c.state != "succeeded"]
    if not unfinished:
        if job.kind in GROUP_KINDS:
            job.state, job.finished_at = "succeeded", utcnow()
            session.commit()
        else:
            send(session, job, queue)
        return
    job.state = "waiting"
    session.commit()
    for child in unfinished:
        if child.state in ("failed", "cancelled"):
            retry(session, child, queue)


def _reset(job: Job, attempt: int) -> None:
    job.attempt, job.error, job.cancel_requested = attempt, None, False
    job.started_at = job.finished_at = job.heartbeat_at = job.worker = None
    job.progress, job.log_tail = {}, ""


def child_finished(session: Session, child: Job, queue: JobQueue) -> None:
    """After a child job ends: end the parent the same way if the child failed or was cancelled
    (naming it); once all children succeeded, send the parent (or, for a group, mark it succeeded)."""
    if child.parent_id is None:
        return
    parent = session.get(Job, child.parent_id)
    session.refresh(parent)
    if child.state in ("failed", "cancelled"):
        reason = f"member job {child.id} ({child.kind}) {child.state}: {child.error}"
        session.execute(
            update(Job)
            .where(Job.id == parent.id, Job.state == "waiting")
            .values(state=child.state, error=reason, finished_at=utcnow())
        )
        session.commit()
    elif all(c.state == "succeeded" for c in parent.children):
        # Only one finishing child wins this update, so the parent is sent (or ended) once.
        group = parent.kind in GROUP_KINDS
        values = {"state": "succeeded", "finished_at": utcnow()} if group else {"state": "queued"}
        won = session.execute(
            update(Job).where(Job.id == parent.id, Job.state == "waiting").values(**values)
        ).rowcount
        session.commit()
        if won and not group:
            session.refresh(parent)
            send(session, parent, queue)


def job_progress(job: Job) -> JobProgress | None:
    """What a job's progress reads: its own latest report or, for a parent that has not reported
    this attempt (a group, or a job still waiting for its members), its members' aggregate."""
    if job.progress:
        return JobProgress.model_validate(job.progress)
    if job.children:
        return members_progress([(child.state, job_progress(child)) for child in job.children])
    return None


def job_state(job: Job) -> str:
    """A job's state as people read it: a parent waiting for its members is running while one runs."""
    if job.state == "waiting" and any(child.state == "running" for child in job.children):
        return "running"
    return job.state


def reap(session: Session, queue: JobQueue, stale_after_s: float) -> list[str]:
    """Recover jobs that lost their worker or their queue message; returns what was done, for the log.

    - running, no heartbeat for ``stale_after_s``: the worker died; deliver again (a training resumes
      from its last checkpoint) while attempts remain, else fail with the reason.
    - queued, but sent to a Redis that has since restarted (or never sent): send again.
    """
    actions = []
    cutoff = utcnow() - timedelta(seconds=stale_after_s)
    lost = session.scalars(select(Job).where(Job.state == "running", Job.heartbeat_at < cutoff)).all()
    for job in lost:
        attempt = job.attempt
        if attempt < job.max_attempts:
            past = _attempt_record(
                job, "worker lost", f"no heartbeat from {job.worker} for {stale_after_s:.0f} s"
            )
            won = session.execute(
                update(Job)
                .where(Job.id == job.id, Job.attempt == attempt, Job.state == "running")
                .values(state="queued", attempt=attempt + 1, heartbeat_at=None, history=[*job.history, past])
            ).rowcount
            session.commit()
            if won:
                session.refresh(job)
                send(session, job, queue)
                actions.append(
                    f"job {job.id}: worker {job.worker} lost; delivered again (attempt {attempt + 1})"
                )
        else:
            reason = (
                f"the worker running this job ({job.worker}) stopped responding {attempt} times "
                "(killed, out of memory, or the machine went down); see the log tail, then retry"
            )
            if finish(session, job.id, attempt, "failed", error=reason, log_tail=job.log_tail):
                session.refresh(job)
                child_finished(session, job, queue)
                actions.append(f"job {job.id}: failed after {attempt} lost workers")
    run_id = queue.run_id()
    if run_id is not None:
        orphans = session.scalars(
            select(Job).where(
                Job.state == "queued",
                Job.queued_at < utcnow() - timedelta(seconds=5),  # the sender may still be at it
                (Job.broker_run_id != run_id) | Job.broker_run_id.is_(None),
            )
        ).all()
        for job in orphans:
            send(session, job, queue)
            actions.append(f"job {job.id}: queue message lost (Redis restarted or was down); sent again")
    return actions
