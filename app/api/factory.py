"""The FastAPI application factory."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import make_url

from app.api.admission import ADMITTED, AdmissionQueue
from app.api.body_limit import ParsedBodyLimit
from app.api.errors import install_error_handlers
from app.api.routes import (
    auth,
    health,
    jobs,
    label_qc,
    label_versions,
    labelers,
    labeling,
    labels,
    models,
    projects,
    rechecks,
    rounds,
    ui,
    videos,
    workers,
)
from app.api.routes import fiftyone as fiftyone_routes
from app.api.routes import results as results_routes
from app.fiftyone.mongo import MongoServer
from app.fiftyone.proxy import PREFIX as FIFTYONE_PREFIX
from app.fiftyone.servers import FiftyOneServers, keep_stopping_idle
from app.labelstudio.projects import LabelStudio, keep_labels_in_step
from app.labelstudio.proxy import ASSETS as LABELSTUDIO_ASSETS
from app.labelstudio.proxy import PREFIX as LABELSTUDIO_PREFIX
from app.labelstudio.server import LabelStudioServer
from app.probe import require_ffprobe
from app.proxying import CanonicalPaths
from app.security import Passwords
from app.settings import Settings
from app.ui.server import PREFIX as UI_PREFIX
from worker.slots.liveness import keep_watch
from worker.state.db.engine import make_engine, make_sessionmaker, migrate
from worker.state.queue import JobQueue
from worker.state.storage import Storage


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service; the database is migrated to the newest schema when it starts."""
    settings = settings or Settings()
    require_ffprobe()
    settings.data_root.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(migrate, engine)
        # The service reaps too: a dead worker's job is taken over even when no worker slot is alive.
        stop = threading.Event()
        watch = keep_watch(
            app.state.sessions, app.state.queue, settings.stale_after_s, settings.heartbeat_s, stop
        )
        reconciling = None
        if app.state.labelstudio is not None:
            reconciling = keep_labels_in_step(
                app.state.labelstudio, app.state.sessions, settings.labelstudio_sync_s, stop
            )
        idle = None
        if app.state.fiftyone is not None:
            idle = keep_stopping_idle(app.state.fiftyone, min(30.0, settings.fiftyone_idle_s / 2), stop)
        yield
        stop.set()
        watch.join()
        if idle is not None:
            idle.join()
        if reconciling is not None:
            reconciling.join()
        app.state.queue.close()
        engine.dispose()

    app = FastAPI(
        title="posecloud",
        description="Pose estimation service: accounts, projects, videos, labels, training, prediction, jobs.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_sessionmaker(engine)
    app.state.storage = Storage(settings.storage_url, settings.storage_options)
    app.state.passwords = Passwords(settings.argon2_time_cost, settings.argon2_memory_kib)
    app.state.queue = JobQueue(settings.redis_url)
    app.state.labelstudio = None
    if settings.labelstudio_port:
        server = LabelStudioServer(settings.labelstudio_dir, settings.labelstudio_port, settings.public_url)
        app.state.labelstudio = LabelStudio(
            server,
            app.state.storage,
            settings.data_root / "locks",
            f"{settings.public_url.rstrip('/')}/labelstudio-hooks",
        )
    app.state.fiftyone = None
    if settings.mongo_port:
        mongo = MongoServer(settings.mongo_dir, settings.mongo_port, settings.mongo_host)
        app.state.fiftyone = FiftyOneServers(
            mongo,
            settings.data_root / "fiftyone",
            settings.fiftyone_idle_s,
            deny=_kept_from_fiftyone(settings, app.state.storage),
        )
    install_error_handlers(app)
    app.add_middleware(CanonicalPaths)  # one reading of every path, before any route sees it
    app.add_middleware(ParsedBodyLimit, limit=settings.json_limit)
    proxied = (LABELSTUDIO_PREFIX, *LABELSTUDIO_ASSETS, FIFTYONE_PREFIX, UI_PREFIX)  # and the webhooks
    app.add_middleware(
        AdmissionQueue, limit=ADMITTED, stream_from=settings.json_limit.bytes, unqueued=proxied
    )
    for module in (
        health,
        auth,
        projects,
        videos,
        labels,
        label_versions,
        label_qc,
        labeling,
        labelers,
        rechecks,
        rounds,
        models,
        jobs,
        workers,
        ui,
    ):
        app.include_router(module.router)
    app.include_router(fiftyone_routes.router)
    app.include_router(results_routes.router)
    return app


def _kept_from_fiftyone(settings: Settings, storage: Storage) -> list[Path]:
    """What the service keeps outside the data root that FiftyOne's servers may not read either:
    Label Studio's folder (its admin's credentials), local storage, a SQLite database's folder."""
    folders = [settings.labelstudio_dir]
    if storage.is_local:
        folders.append(Path(storage.root))
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        folders.append(Path(url.database).parent)
    root = settings.data_root.resolve()
    return [f for f in folders if not f.resolve().is_relative_to(root)]  # the data root is denied anyway
