"""``posecloud up``: Redis (when none is running), Label Studio (on 127.0.0.1, reached through the
API), FiftyOne's MongoDB (authentication on, 127.0.0.1), the API and a worker on this machine, the example project loaded; Ctrl-C stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from app.example import DEMO_USER, load_example
from app.fiftyone.mongo import MongoServer
from app.labelstudio.server import LabelStudioServer
from app.redis_server import RedisServer, reachable
from app.settings import Settings
from app.ui.server import UIServer
from core.errors import ConfigError
from worker.slots.supervisor import catch_stop_signals, stop_processes

READY_TIMEOUT_S = 120
STOP_GRACE_S = 30.0
DEFAULT_DEMO_PASSWORD = "posecloud-demo"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def demo_password(host: str, load_example_project: bool) -> str:
    """The demo account's password: POSECLOUD_DEMO_PASSWORD, or the README's default, which only a
    server reachable from this machine alone may use."""
    password = os.environ.get("POSECLOUD_DEMO_PASSWORD", DEFAULT_DEMO_PASSWORD)
    if load_example_project and host not in LOOPBACK and password == DEFAULT_DEMO_PASSWORD:
        raise ConfigError(
            f"--host {host} makes posecloud reachable from other machines, and the demo account would have the "
            "default password everyone can read in the README; set POSECLOUD_DEMO_PASSWORD to a password of "
            "your own, or start with --no-example"
        )
    return password


def _wait_ready(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise ConfigError(f"the API did not start ({url}); see the messages above") from None
            time.sleep(0.3)


def run_app(
    host: str,
    port: int,
    slots: int,
    api_workers: int = 1,
    load_example_project: bool = True,
    labelstudio_port: int | None = 8081,
    mongo_port: int | None = 27117,
    ui_port: int | None = 8501,
) -> int:
    """Everything on this machine; ``labelstudio_port`` None runs without Label Studio, ``mongo_port``
    None without FiftyOne (whose servers the API starts on demand)."""
    password = demo_password(host, load_example_project)
    settings = Settings()
    redis_server = None
    if not reachable(settings.redis_url):
        parsed = urllib.parse.urlparse(settings.redis_url)
        if parsed.hostname not in ("127.0.0.1", "localhost"):
            raise ConfigError(
                f"Redis at {settings.redis_url} is unreachable; start it or fix POSECLOUD_REDIS_URL"
            )
        redis_server = RedisServer(parsed.port or 6379, settings.data_root / "redis")
        redis_server.start()
    env = {
        **os.environ,
        "POSECLOUD_REDIS_URL": settings.redis_url,
        "POSECLOUD_DATA_ROOT": str(settings.data_root),
    }
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    labelstudio = None
    if labelstudio_port is not None:
        public = os.environ.get("POSECLOUD_PUBLIC_URL", base)
        labelstudio = LabelStudioServer(settings.labelstudio_dir, labelstudio_port, public)
        labelstudio.start()
        env |= {"POSECLOUD_LABELSTUDIO_PORT": str(labelstudio_port), "POSECLOUD_PUBLIC_URL": public}
    mongo = MongoServer(settings.mongo_dir, mongo_port) if mongo_port is not None else None
    if mongo is not None:
        env |= {"POSECLOUD_MONGO_PORT": str(mongo_port)}
    ui = None
    if ui_port is not None:  # the front end, which the API serves under /ui/
        ui = UIServer(ui_port, f"http://127.0.0.1:{port}", settings.data_root / "ui.log")
        ui.start()
        env |= {"POSECLOUD_UI_PORT": str(ui_port)}
    cli = [sys.executable, "-m", "app.cli"]
    # Each in a session of its own: Ctrl-C in the terminal reaches this process alone, which stops
    # them with one SIGINT each. A second SIGINT (the terminal's, then ours) makes uvicorn quit at
    # once, skipping its shutdown, and the FiftyOne servers it started would outlive it.
    processes = [
        subprocess.Popen(
            [*cli, "api", "--host", host, "--port", str(port), "--workers", str(api_workers)],
            env=env,
            start_new_session=True,
        )
    ]
    stopping = catch_stop_signals()
    try:
        if mongo is not None:
            mongo.start()
        _wait_ready(f"{base}/health", processes[0])
        if ui is not None:
            ui.wait_ready()
        if labelstudio is not None:
            labelstudio.wait_ready()
        processes.append(
            subprocess.Popen([*cli, "worker", "--slots", str(slots)], env=env, start_new_session=True)
        )
        summary = "example project not loaded"
        if load_example_project:
            summary = load_example(base, password)
            summary += f"; sign in as {DEMO_USER!r} with the password in POSECLOUD_DEMO_PASSWORD"
            summary += " (unset: the README's default)" if password == DEFAULT_DEMO_PASSWORD else ""
        labeling = f", Label Studio {base}/labelstudio/ (through the API)" if labelstudio else ""
        labeling += f", FiftyOne under {base}/fiftyone/<project>/" if mongo else ""
        opening = f"open {base}/ in a browser" if ui else "no front end (--no-ui)"
        print(
            f"\nposecloud is up: {opening}; API {base} (API docs {base}/docs{labeling}), queue {settings.redis_url}, "
            f"data {settings.data_root}\n{summary}\nCtrl-C stops everything.",
            flush=True,
        )
        while not stopping.wait(0.5):
            if any(p.poll() is not None for p in processes):
                print("a posecloud process exited; stopping the others", file=sys.stderr)
                return 1
        return 0
    finally:
        stop_processes(processes[::-1], signal.SIGINT, STOP_GRACE_S)  # the worker first, then the API
        if mongo is not None:  # after the API, which stops its FiftyOne servers first
            mongo.stop()
        if ui is not None:
            ui.stop()
        if labelstudio is not None:
            labelstudio.stop()
        if redis_server:
            redis_server.stop()
