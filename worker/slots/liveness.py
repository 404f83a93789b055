"""Who is alive: worker slots beat into ``worker_slots``, and a reaper (run by every slot and by the
service, so a dead worker's job is taken over even when no slot is alive) recovers jobs whose
worker or queue message was lost (``worker.state.records.reap``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.orm import Session, sessionmaker

from worker.state import records
from worker.state.db.models import WorkerSlot, utcnow
from worker.state.queue import JobQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlotIdentity:
    name: str
    host: str
    device: str  # "cpu" or "GPU <index> (<model>)"
    pid: int


def beat_slot(session: Session, slot: SlotIdentity) -> None:
    """Record that ``slot`` is alive now (its row is made on the first beat, or after a restart)."""
    now = utcnow()
    fields = {"host": slot.host, "device": slot.device, "pid": slot.pid, "heartbeat_at": now}
    updated = session.execute(
        update(WorkerSlot).where(WorkerSlot.name == slot.name, WorkerSlot.pid == slot.pid).values(**fields)
    ).rowcount
    if not updated:  # first beat of this process: a row left by an earlier process is replaced
        session.execute(delete(WorkerSlot).where(WorkerSlot.name == slot.name))
        session.add(WorkerSlot(name=slot.name, started_at=now, **fields))
    session.commit()


def remove_slot(session: Session, slot: SlotIdentity) -> None:
    """Forget ``slot`` when it stops cleanly (a killed slot ages out of ``GET /workers`` instead)."""
    session.execute(delete(WorkerSlot).where(WorkerSlot.name == slot.name, WorkerSlot.pid == slot.pid))
    session.commit()


def keep_watch(
    sessions: sessionmaker[Session],
    queue: JobQueue,
    stale_after_s: float,
    every_s: float,
    stop: threading.Event,
    beat: Callable[[Session], None] | None = None,
) -> threading.Thread:
    """Start a thread that calls ``beat`` every ``every_s`` and reaps every ``stale_after_s / 3``
    (at least 1 s) until ``stop`` is set. Failures are logged and retried at the next round: the
    database or Redis may be restarting."""
    reap_every = max(1.0, stale_after_s / 3)

    def loop() -> None:
        last_reap = 0.0
        while True:
            try:
                with sessions() as session:
                    if beat is not None:
                        beat(session)
                    if time.monotonic() - last_reap >= reap_every:
                        last_reap = time.monotonic()
                        for action in records.reap(session, queue, stale_after_s):
                            log.warning("reaper: %s", action)
            except Exception as e:
                log.warning("liveness: %s", e)
            if stop.wait(min(every_s, reap_every)):
                return

    thread = threading.Thread(target=loop, daemon=True, name="liveness")
    thread.start()
    return thread
