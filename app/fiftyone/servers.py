"""FiftyOne servers started on demand, one per (user, project): a FiftyOne server keeps one view
state for every browser connected to it, so two users never share one. Each runs ``python -m
fiftyone.server.main`` on 127.0.0.1 as the project's MongoDB user, seeing only the project's
database; one unused for ``idle_s`` is stopped.

The service may run in several processes (``posecloud api --workers N``), and a user's requests
reach any of them: the running servers are recorded in files (``<folder>/running``), so that every
process finds and uses the same server, and a lock file per server makes one process start it. The
record's modification time is the server's last use. The process that started a server stops it
(only it can reap it) once the record says nobody has used it for ``idle_s``, and when it exits.
A server whose starter died without stopping it (killed, or crashed) is adopted by the next process
that finds its record, on a request or on its idle round: the record names its keeper (pid and
start time), and a keeper that no longer runs hands the server on rather than leave it running
for ever.

Each runs with the least it needs, through ``app.sandbox`` (Landlock): it cannot read the data root
(MongoDB's and Label Studio's secrets, the database, every project's files), the other servers'
folders, ``/dev/shm`` or any other process's ``/proc/<pid>``; it writes only in a folder of its
own (its ``HOME`` and ``TMPDIR``, emptied at each start); it listens on its port and connects to
MongoDB's only; its environment holds no posecloud setting. FiftyOne's ``/media`` and operators read
any file their process can, so this stands behind the proxy's allow-list. Without Landlock the
servers still start, unconfined, and a warning says so once (``FiftyOneServers.confinement``)."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from app import sandbox
from app.fiftyone.mongo import MongoServer
from worker.fiftyone.database import fiftyone_env
from worker.slots.supervisor import stop_processes

log = logging.getLogger(__name__)
READY_TIMEOUT_S = 60
STOP_GRACE_S = 10.0
ALWAYS_DENIED = (Path("/dev/shm"),)  # other processes' shared memory (training workers' batches)
KEPT_ENV = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "TZ",
    "LD_LIBRARY_PATH",
    "PYTHONPATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)
_warned_unconfined = False


class FiftyOneDown(Exception):
    """A FiftyOne server could not be started; the message says why and what to do."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class FiftyOneServer:
    port: int
    pid: int
    log_file: Path
    started: int = field(default=0, compare=False)  # the process's start time (clock ticks since boot)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        """Whether the process still runs (the same one: a pid can be reused once it has ended)."""
        return _start_time(self.pid) == self.started

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/fiftyone", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False


def _start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot); None when it has ended (or is a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _warn_unconfined() -> None:
    global _warned_unconfined
    if not _warned_unconfined:
        _warned_unconfined = True
        log.warning(
            "this kernel has no Landlock (Linux 5.13+ with it enabled): FiftyOne servers run unconfined, "
            "able to read every file this user can (the data root with MongoDB's and Label Studio's "
            "secrets, every project's files, other processes' environment) and to write wherever this "
            "user can; only the proxy's allow-list keeps FiftyOne's /media and operators from them"
        )


class FiftyOneServers:
    """The running servers by (user id, project id); ``folder`` holds their logs and the folders
    they may write in. They may not read MongoDB's folder's parent (the data root: ``Settings.mongo_dir``
    is ``<data root>/mongo``), ``folder``, ``/dev/shm`` and the ``deny`` folders (where the service
    keeps secrets or files outside the data root)."""

    def __init__(self, mongo: MongoServer, folder: Path, idle_s: float, deny: Iterable[Path] = ()) -> None:
        self.mongo, self.folder, self.idle_s = mongo, folder, idle_s
        self.deny = (mongo.folder.parent, mongo.folder, folder, *ALWAYS_DENIED, *deny)
        self.landlock_abi = sandbox.landlock_abi()
        if not self.landlock_abi:
            _warn_unconfined()
        self._started: dict[tuple[int, int], subprocess.Popen] = {}  # the servers this process started
        self._adopted: dict[tuple[int, int], FiftyOneServer] = {}  # orphans it keeps (not its children)
        self._me = [os.getpid(), _start_time(os.getpid())]

    @property
    def confinement(self) -> str:
        """How the servers are confined, in words (for logs and health reports)."""
        if self.landlock_abi:
            return f"Landlock ABI {self.landlock_abi}"
        return "none: this kernel has no Landlock, FiftyOne servers can read every file this user can"

    def server(self, user_id: int, project_id: int) -> FiftyOneServer:
        """The user's server of the project, started (seconds) when there is none or it died."""
        key = (user_id, project_id)
        with self._claimed(key):
            running = self._recorded(key)
            if running is None:
                running = self._start(user_id, project_id)
                self._write_record(key, running)
            os.utime(self._record(key))  # its last use, for every process
            return running

    def _write_record(self, key: tuple[int, int], server: FiftyOneServer) -> None:
        """Record ``server`` with this process as its keeper (call with the server claimed)."""
        record = {**dataclasses.asdict(server), "keeper": self._me}
        self._record(key).write_text(json.dumps(record, default=str))

    def _record(self, key: tuple[int, int]) -> Path:
        return self.folder / "running" / f"u{key[0]}-p{key[1]}.json"

    def _recorded_keys(self) -> list[tuple[int, int]]:
        """The keys of every recorded server, whichever process keeps it (``_record``'s names)."""
        keys = []
        for record in sorted((self.folder / "running").glob("u*-p*.json")):
            user, project = record.stem[1:].split("-p")
            keys.append((int(user), int(project)))
        return keys

    @contextmanager
    def _claimed(self, key: tuple[int, int]) -> Iterator[None]:
        """Hold the server's lock (across threads and processes) while it is looked up, started or stopped."""
        record = self._record(key)
        record.parent.mkdir(parents=True, exist_ok=True)
        with record.with_suffix(".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _recorded(self, key: tuple[int, int]) -> FiftyOneServer | None:
        """The recorded server, if it still runs, adopted when its keeper has died (call with the
        server claimed)."""
        record = self._record(key)
        try:
            found = json.loads(record.read_text())
        except (OSError, ValueError):
            return None
        running = FiftyOneServer(found["port"], found["pid"], Path(found["log_file"]), found["started"])
        if running.alive():
            keeper = found.get("keeper")  # None: recorded before records named their keeper
            kept_here = key in self._started or key in self._adopted
            if not kept_here and (keeper is None or _start_time(keeper[0]) != keeper[1]):
                self._adopt(key, running, keeper)
            return running
        ended = self._started.pop(key, None)
        if ended is not None:
            ended.wait()  # reaped: it was this process's
        self._adopted.pop(key, None)
        record.unlink(missing_ok=True)
        return None

    def _adopt(self, key: tuple[int, int], server: FiftyOneServer, keeper: list | None) -> None:
        """Keep ``server``, whose keeper has ended (call with the server claimed)."""
        record = self._record(key)
        last_use = record.stat().st_mtime
        self._write_record(key, server)
        os.utime(record, (last_use, last_use))  # adopting it is no use of it
        self._adopted[key] = server
        log.warning(
            "adopted the FiftyOne server of user %d, project %d (pid %d): the process that kept it (%s) "
            "ended without stopping it", *key, server.pid, f"pid {keeper[0]}" if keeper else "unknown",
        )  # fmt: skip

    def home(self, user_id: int, project_id: int) -> Path:
        """The one folder the server may write in (its ``HOME`` and ``TMPDIR``)."""
        return self.folder / "homes" / f"u{user_id}-p{project_id}"

    def command(self, user_id: int, project_id: int, port: int) -> list[str]:
        """The server's command line: through ``app.sandbox`` where the kernel has Landlock."""
        # -P: nothing importable from the working folder
        server = [sys.executable, "-P", "-m", "fiftyone.server.main"]
        server += ["--address", "127.0.0.1", "--port", str(port)]
        if not self.landlock_abi:
            return server
        policy = sandbox.Policy(
            deny=self.deny,
            write=(self.home(user_id, project_id),),
            bind_tcp=(port,),
            connect_tcp=(self.mongo.port,),
            hide_processes=True,
        )
        return sandbox.command_line(policy, server)

    def _env(self, user_id: int, project_id: int) -> dict[str, str]:
        """No posecloud setting (nor any other secret of the service's environment); FiftyOne's
        plugins and configs in the server's own folder (empty), not in MongoDB's."""
        home = self.home(user_id, project_id)
        kept = {k: v for k, v in os.environ.items() if k in KEPT_ENV or k.startswith("LC_")}
        return {
            **kept,
            **fiftyone_env(self.mongo.folder, self.mongo.host, self.mongo.port, project_id),
            "HOME": str(home),
            "TMPDIR": str(home / "tmp"),
            "FIFTYONE_PLUGINS_DIR": str(home / "plugins"),
            "FIFTYONE_CONFIG_PATH": str(home / "config.json"),
            "FIFTYONE_APP_CONFIG_PATH": str(home / "app-config.json"),
            "JOBLIB_MULTIPROCESSING": "0",  # its probe would warn: no semaphores (/dev/shm) in the sandbox
        }

    def _start(self, user_id: int, project_id: int) -> FiftyOneServer:
        self.mongo.ensure_project_user(project_id)
        # the builder job (worker.jobs.comparison) still points FiftyOne's plugins there
        (self.mongo.folder / "no-plugins").mkdir(parents=True, exist_ok=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        home = self.home(user_id, project_id)
        shutil.rmtree(home, ignore_errors=True)  # nothing a previous run wrote is read again
        for made in (home.parent, home, home / "tmp", home / "plugins"):
            made.mkdir(mode=0o700, exist_ok=True)
        log_file = self.folder / f"server-u{user_id}-p{project_id}.log"
        port = _free_port()
        with log_file.open("ab") as out:
            process = subprocess.Popen(
                self.command(user_id, project_id, port),
                env=self._env(user_id, project_id),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._started[(user_id, project_id)] = process
        server = FiftyOneServer(port, process.pid, log_file, _start_time(process.pid) or 0)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not server.healthy():
            if process.poll() is not None or time.monotonic() > deadline:
                stop_processes([self._started.pop((user_id, project_id))], signal.SIGTERM, STOP_GRACE_S)
                raise FiftyOneDown(
                    f"the FiftyOne server of project {project_id} did not start; see {log_file} "
                    "(is MongoDB up? `posecloud up` starts it)"
                )
            time.sleep(0.2)
        log.info(
            "FiftyOne server for user %d, project %d on port %d (confined: %s)",
            user_id, project_id, port, self.confinement,
        )  # fmt: skip
        return server

    def stop_idle(self) -> list[tuple[int, int]]:
        """Adopt the servers whose keeper has died, then stop the servers this process keeps that
        nobody has used for ``idle_s``; returns their keys."""
        for key in self._recorded_keys():
            with self._claimed(key):
                self._recorded(key)
        stopped = []
        for key in [*self._started, *self._adopted]:
            with self._claimed(key):
                try:
                    idle = time.time() - self._record(key).stat().st_mtime > self.idle_s
                except FileNotFoundError:
                    idle = True
                if idle:
                    self._stop(key)
                    stopped.append(key)
        return stopped

    def stop_all(self) -> None:
        """Stop the servers this process keeps."""
        for key in [*self._started, *self._adopted]:
            with self._claimed(key):
                self._stop(key)

    def _stop(self, key: tuple[int, int]) -> None:
        # neither: another thread of this process stopped it first
        process, adopted = self._started.pop(key, None), self._adopted.pop(key, None)
        if process is not None:
            stop_processes([process], signal.SIGTERM, STOP_GRACE_S)
        elif adopted is not None:
            _stop_adopted(adopted)
        else:
            return
        self._record(key).unlink(missing_ok=True)

    def running(self) -> list[tuple[int, int]]:
        """The servers this process keeps that still run."""
        started = [k for k, process in self._started.items() if process.poll() is None]
        return started + [k for k, server in self._adopted.items() if server.alive()]


def _stop_adopted(server: FiftyOneServer) -> None:
    """SIGTERM, then SIGKILL after ``STOP_GRACE_S``, to a server this process did not start (its
    parent, now init, reaps it); the start time check keeps a reused pid safe."""
    for signum, wait_s in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, 5.0)):
        if not server.alive():
            return
        os.kill(server.pid, signum)
        deadline = time.monotonic() + wait_s
        while server.alive() and time.monotonic() < deadline:
            time.sleep(0.1)


def keep_stopping_idle(servers: FiftyOneServers, every_s: float, stop: threading.Event) -> threading.Thread:
    """A thread that stops idle servers every ``every_s`` until ``stop``; all of them at the end."""

    def loop() -> None:
        while not stop.wait(every_s):
            for user_id, project_id in servers.stop_idle():
                log.info("stopped the idle FiftyOne server of user %d, project %d", user_id, project_id)
        servers.stop_all()

    thread = threading.Thread(target=loop, daemon=True, name="fiftyone-idle")
    thread.start()
    return thread
