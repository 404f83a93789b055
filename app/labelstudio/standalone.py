"""``posecloud labelstudio``: Label Studio in the foreground, set up as ``posecloud up`` starts it
(its data and the admin's secrets in the data root, 127.0.0.1 only), for a container of its own
beside the API's (docker-compose.yml runs it in the API container's network, so only the API
reaches it)."""

from __future__ import annotations

from app.labelstudio.server import LabelStudioServer
from app.settings import Settings


def run(port: int) -> int:
    """Start Label Studio on 127.0.0.1:``port`` and wait for it; SIGTERM or SIGINT (a container's
    stop) stops it. Returns its exit status."""
    settings = Settings()
    server = LabelStudioServer(settings.labelstudio_dir, port, settings.public_url)

    server.start()
    print(f"Label Studio on {server.url} ({settings.labelstudio_dir}); browsers reach it through the API")
    return server.serve_in_foreground()
