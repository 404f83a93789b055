"""The whole stack for the front end's tests, once per module: the API (with Label Studio and the
Streamlit UI behind it, on one port), the Streamlit server and a worker slot."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis

from app.labelstudio.server import LabelStudioServer
from app.redis_server import RedisServer
from app.ui.server import UIServer
from tests.app.labelstudio.conftest import Api, service_env, start_api, start_worker, stop_api
from tests.conftest import module_folder
from tests.services import free_port
from worker.slots.supervisor import stop_processes


@dataclass
class Stack:
    api: Api
    ui: UIServer

    @property
    def url(self) -> str:
        return self.api.url


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest,
    api_port: int,
    labelstudio: LabelStudioServer,
    redis_server: RedisServer,
) -> Iterator[Stack]:
    redis.Redis.from_url(redis_server.url).flushall()
    redis_url = redis_server.url
    with module_folder(request, "ui") as folder:
        data_root = folder / "data"
        ui_port = str(free_port())
        api = start_api(api_port, data_root, labelstudio, redis_url, sync_s=2.0, ui_port=ui_port)
        ui = UIServer(int(ui_port), api.url, data_root / "ui.log")
        ui.start()
        env = service_env(api_port, data_root, labelstudio, redis_url, 2.0, ui_port=ui_port)
        worker = start_worker(env, data_root / "worker.log")
        try:
            ui.wait_ready()
            yield Stack(api, ui)
        finally:
            stop_processes([worker], signal.SIGINT, 30)
            ui.stop()
            stop_api(api)


PASSWORD = "a long password"


def registered(stack: Stack, context, username: str):
    """A page of the browser ``context`` signed in as a newly registered ``username``, and its
    session token (which the API takes as a bearer token too)."""
    page = context.new_page()
    form = {"username": username, "password": PASSWORD, "action": "register"}
    assert page.request.post(f"{stack.url}/signin", form=form, max_redirects=0).status == 303
    return page, next(c["value"] for c in context.cookies() if c["name"] == "posecloud_session")


def api_client(stack: Stack, token: str) -> httpx.Client:
    return httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {token}"}, timeout=120)
