"""Run the API server with uvicorn (``posecloud api``)."""

from __future__ import annotations

import uvicorn

from app.api.factory import create_app
from app.settings import Settings


def run(host: str = "127.0.0.1", port: int = 8000, settings: Settings | None = None) -> None:
    """Serve the API on ``host:port`` until interrupted (Ctrl-C)."""
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
