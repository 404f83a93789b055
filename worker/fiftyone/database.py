"""Who reaches which MongoDB database for FiftyOne: one database per project, readable only by that
project's MongoDB user. Names and passwords are derived here, from secrets generated once and kept
(mode 0600) in the data root, so the service (which makes the users) and the workers (which build
the datasets) agree without storing any password in the database or in a job's parameters."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

ADMIN_USER = "posecloud-admin"
STATS_ROLE = "posecloudStats"  # indexStats, collStats, dbStats: FiftyOne runs $indexStats on opening
SECRETS_FILE = "secrets.json"


@dataclass(frozen=True)
class MongoSecrets:
    admin_password: str
    project_key: str  # HMAC key from which each project user's password is derived


def mongo_secrets(folder: Path) -> MongoSecrets:
    """The secrets in ``folder``, generated on first use (mode 0600, never overwritten)."""
    path = folder / SECRETS_FILE
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        fresh = {"admin_password": secrets.token_urlsafe(24), "project_key": secrets.token_hex(32)}
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made them first: theirs count
            return MongoSecrets(**json.loads(path.read_text()))
        with os.fdopen(fd, "w") as handle:
            json.dump(fresh, handle)
    return MongoSecrets(**json.loads(path.read_text()))


def project_database(project_id: int) -> str:
    return f"posecloud_project_{project_id}"


def project_user(project_id: int) -> str:
    return f"project-{project_id}"


def project_password(folder: Path, project_id: int) -> str:
    key = mongo_secrets(folder).project_key.encode()
    return hmac.new(key, f"project-{project_id}".encode(), hashlib.sha256).hexdigest()


def mongo_uri(host: str, port: int, user: str, password: str, auth_db: str) -> str:
    quoted = urllib.parse.quote_plus
    return f"mongodb://{quoted(user)}:{quoted(password)}@{host}:{port}/?authSource={auth_db}"


def project_uri(folder: Path, host: str, port: int, project_id: int) -> str:
    """The URI of ``project_id``'s MongoDB user (authenticated on the project's own database)."""
    return mongo_uri(
        host,
        port,
        project_user(project_id),
        project_password(folder, project_id),
        project_database(project_id),
    )


def fiftyone_env(folder: Path, host: str, port: int, project_id: int) -> dict[str, str]:
    """The environment a FiftyOne process of ``project_id`` runs with: the project's user and
    database, no telemetry, no plugins, no migrations (the project user may not run them)."""
    return {
        "FIFTYONE_DATABASE_URI": project_uri(folder, host, port, project_id),
        "FIFTYONE_DATABASE_NAME": project_database(project_id),
        "FIFTYONE_DATABASE_ADMIN": "false",
        "FIFTYONE_DO_NOT_TRACK": "true",
        "FIFTYONE_SHOW_PROGRESS_BARS": "false",
        "FIFTYONE_PLUGINS_DIR": str(folder / "no-plugins"),
        "FIFTYONE_CONFIG_PATH": str(folder / "no-config.json"),
        "FIFTYONE_APP_CONFIG_PATH": str(folder / "no-app-config.json"),
    }
