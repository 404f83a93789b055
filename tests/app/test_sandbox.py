"""The Landlock launcher: a command run through it cannot read the denied folders (but reads the rest,
and what ``--read`` grants inside them), writes only in its ``--write`` folders, cannot read other
processes' ``/proc/<pid>`` with ``--hide-processes``, reaches only the allowed TCP ports and cannot
signal processes outside its sandbox."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from app import sandbox

ABI = sandbox.landlock_abi()
needs_landlock = pytest.mark.skipif(ABI < 1, reason="this kernel has no Landlock: nothing is enforced")

# Tries each (name, operation, path) in the sandbox and prints {name: "ok" | exception name}.
PROBE = """
import json, os, socket, sys
def attempt(op, arg):
    try:
        if op == "read": open(arg, "rb").read()
        elif op == "list": os.listdir(arg)
        elif op == "write": open(arg, "w").write("x")
        elif op == "mkdir": os.mkdir(arg)
        elif op == "connect": socket.create_connection(("127.0.0.1", int(arg)), timeout=5).close()
        elif op == "signal": os.kill(int(arg), 0)
        return "ok"
    except OSError as e:
        return type(e).__name__
print(json.dumps({name: attempt(op, arg) for name, op, arg in json.loads(sys.argv[1])}))
"""


def probe(options: list[str], attempts: list[tuple[str, str, object]]) -> dict[str, str]:
    line = [sys.executable, "-m", "app.sandbox", *options, "--", sys.executable, "-c", PROBE]
    done = subprocess.run([*line, json.dumps(attempts)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"Landlock ABI {ABI}" in done.stderr  # it says what it enforces
    return json.loads(done.stdout)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``secret/`` (a file, a sub-folder with a file), ``public.txt``, ``out/`` (writable)."""
    (tmp_path / "secret" / "granted").mkdir(parents=True)
    (tmp_path / "secret" / "key.txt").write_text("key")
    (tmp_path / "secret" / "granted" / "ok.txt").write_text("ok")
    (tmp_path / "public.txt").write_text("public")
    (tmp_path / "out").mkdir()
    return tmp_path


def test_the_rest_of_the_tree_is_readable_around_denied_folders(tree: Path) -> None:
    roots = sandbox.readable_roots([tree / "secret" / "granted", tree / "secret"])
    assert tree / "public.txt" in roots and tree / "out" in roots
    for hidden in (tree, tree / "secret", tree / "secret" / "granted", Path("/")):
        assert hidden not in roots  # an ancestor would hold the denied folder
    assert not any(tree / "secret" in r.parents for r in roots)
    assert sandbox.readable_roots([]) == [Path("/")]


def test_the_handled_rights_follow_the_abi() -> None:
    assert sandbox.handled_fs(1) == (1 << 13) - 1
    assert sandbox.handled_fs(2) & sandbox.REFER and not sandbox.handled_fs(2) & sandbox.TRUNCATE
    assert sandbox.handled_fs(4) & sandbox.TRUNCATE and not sandbox.handled_fs(4) & sandbox.IOCTL_DEV
    assert sandbox.handled_fs(7) & sandbox.IOCTL_DEV


@needs_landlock
def test_a_denied_folder_is_unreadable_and_only_write_folders_are_writable(tree: Path) -> None:
    options = ["--deny", str(tree / "secret"), "--write", str(tree / "out")]
    found = probe(
        options,
        [
            ("secret", "read", str(tree / "secret" / "key.txt")),
            ("secret listing", "list", str(tree / "secret")),
            ("secret sub-folder", "read", str(tree / "secret" / "granted" / "ok.txt")),
            ("public", "read", str(tree / "public.txt")),
            ("interpreter", "read", sys.executable),
            ("write in out", "write", str(tree / "out" / "new.txt")),
            ("folder in out", "mkdir", str(tree / "out" / "sub")),
            ("write beside", "write", str(tree / "beside.txt")),
            ("overwrite public", "write", str(tree / "public.txt")),
            ("write in secret", "write", str(tree / "secret" / "planted.txt")),
            ("devnull", "write", "/dev/null"),
        ],
    )
    assert found == {
        "secret": "PermissionError",
        "secret listing": "PermissionError",
        "secret sub-folder": "PermissionError",
        "public": "ok",
        "interpreter": "ok",
        "write in out": "ok",
        "folder in out": "ok",
        "write beside": "PermissionError",
        "overwrite public": "PermissionError",
        "write in secret": "PermissionError",
        "devnull": "ok",
    }
    assert (tree / "out" / "new.txt").read_text() == "x" and (tree / "public.txt").read_text() == "public"
    assert not (tree / "beside.txt").exists() and not (tree / "secret" / "planted.txt").exists()


@needs_landlock
def test_read_grants_one_path_inside_a_denied_folder(tree: Path) -> None:
    options = ["--deny", str(tree / "secret"), "--read", str(tree / "secret" / "granted")]
    found = probe(
        options,
        [
            ("granted", "read", str(tree / "secret" / "granted" / "ok.txt")),
            ("secret", "read", str(tree / "secret" / "key.txt")),
            ("write granted", "write", str(tree / "secret" / "granted" / "new.txt")),
        ],
    )
    assert found == {"granted": "ok", "secret": "PermissionError", "write granted": "PermissionError"}


@needs_landlock
def test_a_folder_made_later_beside_a_denied_one_is_not_readable_either(tree: Path) -> None:
    line = [sys.executable, "-m", "app.sandbox", "--deny", str(tree / "secret"), "--"]
    reader = subprocess.Popen(
        [*line, sys.executable, "-c", f"import sys; sys.stdin.read(); {PROBE}", json.dumps(
            [("later", "read", str(tree / "later" / "f.txt"))]
        )],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert "Landlock" in reader.stderr.readline()  # the sandbox is in place: now make the folder
        (tree / "later").mkdir()
        (tree / "later" / "f.txt").write_text("later")
        out, _ = reader.communicate("", timeout=60)
    finally:
        reader.kill()
    assert json.loads(out) == {"later": "PermissionError"}


@needs_landlock
def test_other_processes_are_hidden_and_cannot_be_signalled(tree: Path) -> None:
    parent = os.getpid()  # the launcher's parent is this test's process (subprocess.run)
    options = ["--deny", str(tree / "secret"), "--hide-processes"]
    found = probe(
        options,
        [
            ("own status", "read", "/proc/self/status"),
            ("machine", "read", "/proc/meminfo"),
            ("parent environment", "read", f"/proc/{parent}/environ"),
            ("parent command line", "read", f"/proc/{parent}/cmdline"),
            ("init", "list", "/proc/1"),
            ("signal the parent", "signal", parent),
        ],
    )
    assert found["own status"] == "ok" and found["machine"] == "ok"
    assert found["parent environment"] == "PermissionError"
    assert found["parent command line"] == "PermissionError"
    assert found["init"] == "PermissionError"
    if ABI >= 6:
        assert found["signal the parent"] == "PermissionError"


@needs_landlock
@pytest.mark.skipif(ABI < 4, reason="Landlock before ABI 4 does not restrict TCP")
def test_only_the_allowed_tcp_ports_can_be_reached(tree: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as allowed, socket.create_server(("127.0.0.1", 0)) as other:
        port, other_port = allowed.getsockname()[1], other.getsockname()[1]
        found = probe(
            ["--deny", str(tree / "secret"), "--connect-tcp", str(port)],
            [("allowed", "connect", port), ("other", "connect", other_port)],
        )
    assert found == {"allowed": "ok", "other": "PermissionError"}


def test_a_denied_folder_inside_a_granted_one_is_refused(tree: Path) -> None:
    line = [
        sys.executable,
        "-m",
        "app.sandbox",
        "--deny",
        str(tree / "out" / "x"),
        "--write",
        str(tree / "out"),
    ]
    done = subprocess.run([*line, "--", "true"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 126 and "cannot be denied" in done.stderr


def test_without_landlock_the_launcher_refuses_to_run_the_command(
    tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sandbox, "landlock_abi", lambda: 0)
    with pytest.raises(SystemExit) as stopped:
        sandbox.main(["--deny", str(tree / "secret"), "--", "true"])
    assert stopped.value.code == 126 and "no Landlock" in capsys.readouterr().err


def test_the_command_line_round_trips(tree: Path) -> None:
    policy = sandbox.Policy(
        deny=(tree / "secret",), write=(tree / "out",), read=(tree / "public.txt",),
        bind_tcp=(8000,), connect_tcp=(27017, 27018), hide_processes=True,
    )  # fmt: skip
    line = sandbox.command_line(policy, ["prog", "--flag", "--"])
    assert line[:3] == [sys.executable, "-m", "app.sandbox"]
    split = line.index("--")
    assert line[split + 1 :] == ["prog", "--flag", "--"]
    assert sandbox._parse(line[3:]) == (policy, ["prog", "--flag", "--"])
