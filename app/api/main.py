"""Run the API server with uvicorn (``posecloud api``)."""

from __future__ import annotations

import uvicorn

from app.settings import Settings
from worker.state.db.engine import make_engine, migrate


def run(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve the API on ``host:port`` in ``workers`` processes until interrupted (Ctrl-C); the
    settings come from the environment (``POSECLOUD_*``).

    Each process serves any request: what they share lives in the database, Redis, storage and
    files under the data root (the FiftyOne servers' records, the label files' locks). One process
    is bound by Python's interpreter lock to one core; several keep the job list quick when a lab's
    dashboards poll it together (BENCHMARKS.md). The database is migrated here first, so that the
    processes do not race to do it.
    """
    engine = make_engine(Settings().database_url)
    migrate(engine)
    engine.dispose()
    uvicorn.run(
        "app.api.factory:create_app", factory=True, host=host, port=port, workers=workers, log_level="info"
    )
