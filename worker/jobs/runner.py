"""Running one delivery of a job in a worker slot: claim it, keep its record alive, run its handler,
record the outcome, and start whatever was waiting for it."""

from __future__ import annotations

import collections
import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from core.errors import PoseCloudError
from worker.jobs.workspace import Workspace
from worker.state import records
from worker.state.db.models import Job
from worker.state.progress import EtaClock, JobProgress, TrainingLosses, Unit
from worker.state.queue import JobQueue
from worker.state.storage import Storage

log = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised inside a handler, at a progress report, once a user asked to cancel the job."""


shutting_down = threading.Event()  # set by the slot when Celery starts stopping


class JobLost(Exception):
    """Raised inside a handler when the reaper handed the job to another delivery."""


@dataclass
class JobContext:
    """What a handler gets: the job (a detached snapshot), a database session, files, progress."""

    job: Job
    session: Session
    storage: Storage
    workspace: Workspace
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)
    clock: EtaClock = field(default_factory=EtaClock)  # started with the attempt
    latest_progress: JobProgress | None = None

    def report(
        self, stage: str, done: float, total: float | None, unit: Unit, losses: TrainingLosses | None = None
    ) -> None:
        """Record how far the job is (``JobProgress``; written with the next heartbeat); stops the job
        if it was cancelled."""
        self.latest_progress = self.clock.report(stage, done, total, unit, losses)
        if self.cancel_requested.is_set():
            raise JobCancelled("cancelled by a user")
        if self.lost.is_set():
            raise JobLost(f"job {self.job.id} was handed to another worker after a missed heartbeat")


Handler = Callable[[JobContext], dict]


class _LogTail(logging.Handler):
    """Keeps the last lines logged while a job runs, for its record."""

    def __init__(self, lines: int = 200) -> None:
        super().__init__(logging.INFO)
        self.lines: collections.deque[str] = collections.deque(maxlen=lines)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _heartbeat_loop(
    ctx: JobContext, sessions: sessionmaker[Session], tail: _LogTail, every_s: float, stop: threading.Event
) -> None:
    job_id, attempt = ctx.job.id, ctx.job.attempt
    while not stop.wait(every_s):
        try:
            with sessions() as session:
                if records.heartbeat(session, job_id, attempt, ctx.latest_progress, tail.text):
                    ctx.cancel_requested.set()
                if not records.still_mine(session, job_id, attempt):
                    ctx.lost.set()
        except Exception as e:  # a database hiccup must not kill the job; the next beat retries
            log.warning("heartbeat for job %d failed: %s", job_id, e)


def execute(
    job_id: int,
    attempt: int,
    *,
    worker: str,
    sessions: sessionmaker[Session],
    storage: Storage,
    workspace: Workspace,
    queue: JobQueue,
    handlers: dict[str, Handler],
    heartbeat_s: float,
) -> str | None:
    """Run one delivery; returns the job's final state, or None when the delivery was stale."""
    with sessions() as session:
        job = records.claim(session, job_id, attempt, worker)
        if job is None:
            log.info(
                "job %d attempt %d: not queued for this delivery (duplicate or stale); skipped",
                job_id,
                attempt,
            )
            return None
        session.expunge(job)
    tail = _LogTail()
    root = logging.getLogger()
    root.addHandler(tail)
    stop = threading.Event()
    with sessions() as session:
        ctx = JobContext(job, session, storage, workspace)
        beat = threading.Thread(
            target=_heartbeat_loop,
            args=(ctx, sessions, tail, heartbeat_s, stop),
            daemon=True,
            name=f"heartbeat-{job_id}",
        )
        beat.start()
        artifacts, error = None, None
        try:
            log.info("job %d (%s) attempt %d started on %s", job_id, job.kind, attempt, worker)
            artifacts = handlers[job.kind](ctx)
            state = "succeeded"
        except JobLost as e:
            log.warning("%s", e)
            return None
        except JobCancelled:
            state, error = "cancelled", "cancelled by a user"
        except PoseCloudError as e:
            state, error = "failed", str(e)
        except BaseException as e:
            if shutting_down.is_set():  # Celery interrupts the job when it stops: not the job's fault
                state = "stopping"
            elif isinstance(e, Exception):
                log.error("job %d crashed:\n%s", job_id, traceback.format_exc())
                state = "failed"
                error = f"{type(e).__name__}: {e} (an internal error; the log tail has the details)"
            else:
                raise
        finally:
            stop.set()
            beat.join()
            root.removeHandler(tail)
        session.rollback()  # a handler's failed transaction must not block the record update
        if state == "stopping":
            records.hand_back(session, job_id, attempt, queue)
            log.warning(
                "job %d handed back to the queue: this worker is stopping; the next one resumes it", job_id
            )
            return None
        log.info("job %d %s%s", job_id, state, f": {error}" if error else "")
        if records.finish(
            session,
            job_id,
            attempt,
            state,
            error=error,
            artifacts=artifacts,
            progress=ctx.latest_progress,
            log_tail=tail.text,
        ):
            records.child_finished(session, session.get(Job, job_id), queue)
        return state
