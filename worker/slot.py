"""One worker slot: the Celery app that runs jobs, one at a time, on one GPU (or a share of the CPU).

Started by ``posecloud worker`` as ``celery -A worker.slot worker --pool solo``; settings come from
``POSECLOUD_*`` variables like the service's, whose start-up migrates the database. Each slot also runs the reaper, which recovers jobs whose
worker died and queue messages lost with a Redis restart.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading

from celery.signals import worker_ready, worker_shutdown

from app.db.engine import make_engine, make_sessionmaker
from app.settings import Settings
from app.storage import Storage
from worker import records
from worker.handlers import HANDLERS
from worker.queue import RUN_JOB, JobQueue
from worker.runner import execute, shutting_down
from worker.workspace import Workspace

log = logging.getLogger("posecloud.worker")
settings = Settings()
queue = JobQueue(settings.redis_url)
app = queue.celery
engine = make_engine(settings.database_url)
sessions = make_sessionmaker(engine)
storage = Storage(settings.storage_url, settings.storage_options)
workspace = Workspace(storage, settings.data_root / "worker-cache")
slot_name = os.environ.get("POSECLOUD_SLOT_NAME", f"slot@{socket.gethostname()}")
_stop_reaper = threading.Event()


@app.task(name=RUN_JOB, acks_late=True)
def run_job(job_id: int, attempt: int) -> str | None:
    return execute(
        job_id,
        attempt,
        worker=slot_name,
        sessions=sessions,
        storage=storage,
        workspace=workspace,
        queue=queue,
        handlers=HANDLERS,
        heartbeat_s=settings.heartbeat_s,
    )


def _reaper() -> None:
    while not _stop_reaper.wait(max(1.0, settings.stale_after_s / 3)):
        try:
            with sessions() as session:
                for action in records.reap(session, queue, settings.stale_after_s):
                    log.warning("reaper: %s", action)
        except Exception as e:  # the database or Redis may be restarting; try again next round
            log.warning("reaper: %s", e)


@worker_ready.connect
def _start(**_kwargs) -> None:
    for signum in (signal.SIGQUIT, signal.SIGTERM, signal.SIGINT):
        _mark_shutdown_first(signum)
    threading.Thread(target=_reaper, daemon=True, name="reaper").start()
    log.info("%s ready (database %s, queue %s)", slot_name, engine.url.render_as_string(), settings.redis_url)


def _mark_shutdown_first(signum: int) -> None:
    """Flag the shutdown before Celery's own handler interrupts the running job, so the job is handed
    back to the queue instead of being recorded as failed."""
    celery_handler = signal.getsignal(signum)

    def handler(sig, frame) -> None:
        shutting_down.set()
        if callable(celery_handler):
            celery_handler(sig, frame)

    signal.signal(signum, handler)


@worker_shutdown.connect
def _stop(**_kwargs) -> None:
    _stop_reaper.set()
