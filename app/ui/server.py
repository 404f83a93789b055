"""The Streamlit server of the front end, on 127.0.0.1 under the path ``/ui`` (the API proxies
that path on its own port, after checking the posecloud session). The pages reach the API at
``api_url`` with the signed-in user's token."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from app.local_server import LocalServer

MAIN = Path(__file__).with_name("main.py")
PREFIX = "/ui"
API_URL_ENV = "POSECLOUD_UI_API_URL"
READY_TIMEOUT_S = 60


class UIServer(LocalServer):
    def __init__(self, port: int, api_url: str, log: Path) -> None:
        self.port, self.api_url = port, api_url
        self.url = f"http://127.0.0.1:{port}{PREFIX}"
        super().__init__("the Streamlit UI", f"{self.url}/_stcore/health", log)

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "streamlit", "run", str(MAIN),
            "--server.address", "127.0.0.1",
            "--server.port", str(self.port),
            "--server.baseUrlPath", PREFIX.strip("/"),
            "--server.headless", "true",
            "--server.fileWatcherType", "none",
            "--browser.gatherUsageStats", "false",
            "--client.toolbarMode", "viewer",
            "--theme.base", "light",
        ]  # fmt: skip

    def start(self) -> None:
        env = {**os.environ, API_URL_ENV: self.api_url}
        self.launch(self.command(), env, MAIN.parent)

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        super().wait_ready(timeout_s)


def run(port: int, api_url: str, log: Path) -> int:
    """``posecloud ui``: the front end alone, in the foreground (for development, or a container
    beside the API's); the API serves it when started with ``POSECLOUD_UI_PORT`` = ``port``."""
    server = UIServer(port, api_url, log)
    server.start()
    server.wait_ready()
    print(
        f"the front end runs on {server.url}, calling the API at {api_url}; browsers reach it through the API"
    )
    return server.serve_in_foreground()
