"""``posecloud mongo``: FiftyOne's MongoDB in the foreground, set up as ``posecloud up`` starts it
(authentication on, its data and secrets in the data root), for a container of its own: Compose
binds it to the containers' network so that the API's FiftyOne servers and the workers' dataset
builds reach it (authenticated; no port is published)."""

from __future__ import annotations

from app.fiftyone.mongo import MongoServer
from app.settings import Settings
from worker.slots.supervisor import catch_stop_signals


def run(port: int, bind: str) -> int:
    """Start mongod on ``bind``:``port`` and wait; SIGTERM or SIGINT (a container's stop) stops it.
    Returns 0 when stopped, 1 when mongod exited by itself."""
    settings = Settings()
    stopping = catch_stop_signals()
    server = MongoServer(settings.mongo_dir, port, bind=bind)
    server.start()
    print(f"MongoDB for FiftyOne on {bind}:{port} ({settings.mongo_dir}), authentication on", flush=True)
    try:
        while not stopping.wait(1.0):
            if server.process.poll() is not None:
                return 1
        return 0
    finally:
        server.stop()
