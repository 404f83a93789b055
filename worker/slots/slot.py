"""One worker slot: the Celery app that runs jobs, one at a time, on one GPU (or a share of the CPU).

Started by ``posecloud worker`` as ``celery -A worker.slots.slot worker --pool solo``; settings come from
``POSECLOUD_*`` variables like the service's, whose start-up migrates the database. Each slot beats
into ``worker_slots`` (``GET /workers``) and runs the reaper, which recovers jobs whose worker died
and queue messages lost with a Redis restart (the service runs one too).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading

from celery.signals import worker_ready, worker_shutdown

from worker.jobs.handlers import HANDLERS
from worker.jobs.runner import execute, shutting_down
from worker.jobs.workspace import Workspace
from worker.slots.liveness import SlotIdentity, beat_slot, keep_watch, remove_slot
from worker.state.db.engine import make_engine, make_sessionmaker
from worker.state.queue import RUN_JOB, JobQueue
from worker.state.settings import StateSettings
from worker.state.storage import Storage

log = logging.getLogger("posecloud.worker")
settings = StateSettings()
queue = JobQueue(settings.redis_url)
app = queue.celery
engine = make_engine(settings.database_url)
sessions = make_sessionmaker(engine)
storage = Storage(settings.storage_url, settings.storage_options)
workspace = Workspace(storage, settings.data_root / "worker-cache")
slot_name = os.environ.get("POSECLOUD_SLOT_NAME", f"slot@{socket.gethostname()}")
_stop_watch = threading.Event()
_identity: list[SlotIdentity] = []  # this process's slot, once Celery is ready


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


def _device() -> str:
    """``cpu``, or the slot's GPU (its index on this machine and its model)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    if not visible:
        return "cpu"
    import torch  # the slot's jobs load it anyway

    model = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not usable: no CUDA driver"
    return f"GPU {visible} ({model})"


@worker_ready.connect
def _start(**_kwargs) -> None:
    for signum in (signal.SIGQUIT, signal.SIGTERM, signal.SIGINT):
        _mark_shutdown_first(signum)
    identity = SlotIdentity(slot_name, socket.gethostname(), _device(), os.getpid())
    _identity.append(identity)
    keep_watch(
        sessions,
        queue,
        settings.stale_after_s,
        settings.heartbeat_s,
        _stop_watch,
        beat=lambda session: beat_slot(session, identity),
    )
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
    _stop_watch.set()
    for identity in _identity:
        with sessions() as session:
            remove_slot(session, identity)
