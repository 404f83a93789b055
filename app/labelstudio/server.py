"""The Label Studio server: its own venv (it pins packages that clash with ours), its data in the
data root, an admin account whose password and token the service generates once and keeps (never a
fixed default), bound to 127.0.0.1 only: browsers reach it through the API's proxy.

Label Studio's absolute URLs (assets, redirects) carry the proxy's path prefix via
``LABEL_STUDIO_HOST``; webhooks come back to the API on 127.0.0.1, which Label Studio's SSRF
protection would refuse, so that protection is off (the server itself takes no outside traffic).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from app.local_server import LocalServer
from core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
DEFAULT_COMMAND = REPO / ".ls-venv" / "bin" / "label-studio"
PROXY_PREFIX = "/labelstudio"
ADMIN_EMAIL = "admin@posecloud.local"
READY_TIMEOUT_S = 240  # the first start runs Label Studio's migrations (about a minute here)


@dataclass(frozen=True)
class AdminSecrets:
    email: str
    password: str
    token: str


def admin_secrets(folder: Path) -> AdminSecrets:
    """The admin's password and API token, generated on first use and kept in ``folder`` (mode 0600)."""
    path = folder / "admin.json"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        fresh = {"email": ADMIN_EMAIL, "password": secrets.token_urlsafe(24), "token": secrets.token_hex(20)}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(fresh, handle)
    return AdminSecrets(**json.loads(path.read_text()))


class LabelStudioServer(LocalServer):
    """``label-studio start`` on 127.0.0.1:``port`` with its data in ``folder``; ``public_url`` is
    the API's address as browsers see it (the proxy serves Label Studio under ``/labelstudio``)."""

    def __init__(self, folder: Path, port: int, public_url: str, command: Path = DEFAULT_COMMAND) -> None:
        self.folder, self.port, self.command = folder, port, command
        self.url = f"http://127.0.0.1:{port}"
        self.public_url = public_url.rstrip("/")
        super().__init__("Label Studio", f"{self.url}/health", folder / "server.log")

    @property
    def secrets(self) -> AdminSecrets:
        return admin_secrets(self.folder)

    def env(self) -> dict[str, str]:
        admin = self.secrets
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("POSECLOUD_", "LABEL_STUDIO_"))},
            "LABEL_STUDIO_BASE_DATA_DIR": str(self.folder / "data"),
            "LABEL_STUDIO_USERNAME": admin.email,
            "LABEL_STUDIO_PASSWORD": admin.password,
            "LABEL_STUDIO_USER_TOKEN": admin.token,
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",  # else the fixed admin token gets 401
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
            "LABEL_STUDIO_HOST": self.public_url + PROXY_PREFIX,
            "SSRF_PROTECTION_ENABLED": "false",
            "LABEL_STUDIO_SSRF_PROTECTION_ENABLED": "false",
            "SENTRY_DSN": "",
            "FRONTEND_SENTRY_DSN": "",
            "COLLECT_ANALYTICS": "false",
        }

    def start(self) -> None:
        if not self.command.is_file():
            raise ConfigError(
                f"Label Studio is not installed ({self.command} is missing): run `make labelstudio` (or `make up`)"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        # --internal-host is the address it binds (--host only names it in URLs, and is left to
        # LABEL_STUDIO_HOST)
        command = [str(self.command), "start", "--internal-host", "127.0.0.1", "--port", str(self.port)]
        self.launch([*command, "--no-browser"], self.env(), self.folder)

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        super().wait_ready(timeout_s)

    def shell(self, code: str, timeout_s: float = 120.0) -> dict:
        """Run Python ``code`` in Label Studio's Django shell (its ORM: what its REST API cannot do,
        such as reading a user's token); ``code`` sets ``result`` (JSON), which is returned."""
        self.folder.mkdir(parents=True, exist_ok=True)
        script = self.folder / f".shell-{secrets.token_hex(4)}.py"
        script.write_text(code + "\nimport json as _json\nprint('POSECLOUD-RESULT' + _json.dumps(result))\n")
        try:  # the shell reads stdin line by line; one exec() keeps blocks and blank lines intact
            done = subprocess.run(
                [str(self.command), "shell"],
                input=f"exec(open({str(script)!r}).read())\n",
                cwd=self.folder,
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
        finally:
            script.unlink(missing_ok=True)
        for line in done.stdout.splitlines():
            if "POSECLOUD-RESULT" in line:
                return json.loads(line.partition("POSECLOUD-RESULT")[2])
        raise ConfigError(f"Label Studio's shell failed: {(done.stderr or done.stdout).strip()[-800:]}")
