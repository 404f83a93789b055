"""Run a command with less than this user may: a Landlock sandbox (Linux 5.13 or later) that this
launcher applies to itself before it ``exec``s the command, so the command and everything it starts
are held to it for life.

    python -m app.sandbox [--deny DIR ...] [--read PATH ...] [--write DIR ...] [--hide-processes]
                          [--bind-tcp PORT ...] [--connect-tcp PORT ...] -- COMMAND [ARG ...]

- Everything is readable (and executable) except the ``--deny`` folders; ``--read`` paths are
  readable even inside them; only the ``--write`` folders (and ``/dev/null``) are writable.
- ``--hide-processes``: ``/proc/<pid>`` of every other process is unreadable too (environment,
  command line, open files), those started later included.
- ``--bind-tcp``/``--connect-tcp`` (Landlock ABI 4): the only TCP ports it may listen on / reach.
- Always (ABI 6): it may not signal, nor connect to the abstract UNIX sockets of, processes outside
  its sandbox; nor (ABI 1) ptrace them.

Landlock only grants, so "everything except a folder" is built as the grant of every sibling along
the way from ``/`` down to each denied folder, decided when the launcher starts: an entry made later
in one of those ancestors is unreadable too. Not covered: a denied folder reached through another
mount of it (bind mount) or a hard link, connecting to named UNIX sockets, UDP. Without Landlock
(another OS; an older kernel, or one with it switched off) the launcher refuses to run the command
(exit status 126): callers decide whether to run it unconfined (``landlock_abi()`` says which).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import stat
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

# syscall numbers (the same on every architecture Landlock runs on) and the uapi constants
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
_PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3 and 5
BIND_TCP, CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6

READ = EXECUTE | READ_FILE | READ_DIR
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # all a rule on a non-folder may hold
ALWAYS_WRITABLE = (Path("/dev/null"),)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # __attribute__((packed)) in the uapi header
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


class SandboxUnavailable(Exception):
    """Landlock is not there (another OS, an older kernel, or switched off); the message says why."""


@dataclass(frozen=True)
class Policy:
    """What the sandboxed command may reach. ``bind_tcp`` and ``connect_tcp`` both None leave TCP
    alone; otherwise it may listen on / connect to the listed ports only (where the kernel can
    restrict TCP: ABI 4).
    ``hide_processes``: the ``/proc/<pid>`` of every other process is denied too (their environment,
    command line, open files...), those started later included."""

    deny: tuple[Path, ...]
    write: tuple[Path, ...] = ()
    read: tuple[Path, ...] = ()
    bind_tcp: tuple[int, ...] | None = None
    connect_tcp: tuple[int, ...] | None = None
    hide_processes: bool = False


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _syscall(number: int, *args: int | ctypes.c_void_p) -> int:
    libc = _libc()
    converted = [a if isinstance(a, ctypes.c_void_p) else ctypes.c_long(a) for a in args]
    result = libc.syscall(ctypes.c_long(number), *converted)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def landlock_abi() -> int:
    """The Landlock ABI version this kernel offers; 0 where there is none."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        return _syscall(_CREATE_RULESET, ctypes.c_void_p(None), 0, _CREATE_RULESET_VERSION)
    except (OSError, AttributeError):  # ENOSYS: too old; EOPNOTSUPP: switched off at boot
        return 0


def handled_fs(abi: int) -> int:
    """The filesystem rights a ruleset of ``abi`` can handle (REFER from 2, TRUNCATE from 3, IOCTL_DEV
    from 5)."""
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def _real(path: Path | str) -> Path:
    return Path(os.path.realpath(path))


def _outermost(paths: Iterable[Path]) -> set[Path]:
    found = set(paths)
    return {p for p in found if not any(a in found for a in p.parents)}


def other_processes() -> list[Path]:
    """``/proc/<pid>`` of every process but this one."""
    own = str(os.getpid())
    return [Path("/proc", n) for n in os.listdir("/proc") if n.isdigit() and n != own]


def readable_roots(deny: Iterable[Path | str], hide_processes: bool = False) -> list[Path]:
    """The hierarchies that together hold everything but the ``deny`` folders: every entry of each
    ancestor of a denied folder that is neither an ancestor nor denied (symbolic links left out: what
    they point at is judged by its own path)."""
    denied = _outermost([*(_real(p) for p in deny), *(other_processes() if hide_processes else ())])
    if not denied:
        return [Path("/")]
    ancestors = {a for d in denied for a in d.parents}
    roots = []
    for folder in sorted(ancestors):
        try:
            entries = list(os.scandir(folder))
        except OSError:  # missing (nothing to grant) or unlistable (grant nothing there)
            continue
        for entry in entries:
            path = Path(entry.path)
            if path not in ancestors and path not in denied and not entry.is_symlink():
                roots.append(path)
    return sorted(roots)


def _allow_path(ruleset: int, path: Path, rights: int, strict: bool) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        if strict:
            raise
        return  # gone since it was listed
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= FILE_RIGHTS
        attr = _PathBeneathAttr(rights, fd)
        _syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.c_void_p(ctypes.addressof(attr)), 0)
    except OSError:
        if strict:
            raise
    finally:
        os.close(fd)


def _check(policy: Policy) -> None:
    granted = [_real(p) for p in (*policy.write, *policy.read)]
    for denied in map(_real, policy.deny):
        for grant in granted:
            if denied == grant or grant in denied.parents:
                raise ValueError(f"{denied} cannot be denied: it is inside {grant}, which is granted")


def restrict(policy: Policy) -> int:
    """Hold this process (and what it ``exec``s or starts from now on) to ``policy``; returns the
    Landlock ABI used. Raises ``SandboxUnavailable`` without Landlock, ``ValueError`` for a policy
    that cannot be built, ``OSError`` for a ``write``/``read`` path that cannot be granted."""
    _check(policy)
    abi = landlock_abi()
    if abi < 1:
        raise SandboxUnavailable("this kernel has no Landlock (Linux 5.13+ with Landlock enabled)")
    fs = handled_fs(abi)
    restrict_tcp = abi >= 4 and (policy.bind_tcp is not None or policy.connect_tcp is not None)
    attr = _RulesetAttr(
        handled_access_fs=fs,
        handled_access_net=BIND_TCP | CONNECT_TCP if restrict_tcp else 0,
        scoped=SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0,
    )
    ruleset = _syscall(_CREATE_RULESET, ctypes.c_void_p(ctypes.addressof(attr)), ctypes.sizeof(attr), 0)
    try:
        for root in readable_roots(policy.deny, policy.hide_processes):
            _allow_path(ruleset, root, READ & fs, strict=False)
        for path in policy.read:
            _allow_path(ruleset, Path(path), READ & fs, strict=True)
        for path in (*policy.write, *ALWAYS_WRITABLE):
            _allow_path(ruleset, Path(path), fs, strict=True)
        if restrict_tcp:
            ports = [(p, BIND_TCP) for p in policy.bind_tcp or ()]
            ports += [(p, CONNECT_TCP) for p in policy.connect_tcp or ()]
            for port, access in ports:
                net = _NetPortAttr(access, port)
                _syscall(_ADD_RULE, ruleset, _RULE_NET_PORT, ctypes.c_void_p(ctypes.addressof(net)), 0)
        _syscall_prctl_no_new_privs()
        _syscall(_RESTRICT_SELF, ruleset, 0)
    finally:
        os.close(ruleset)
    return abi


def _syscall_prctl_no_new_privs() -> None:
    zero = ctypes.c_ulong(0)
    if _libc().prctl(ctypes.c_int(_PR_SET_NO_NEW_PRIVS), ctypes.c_ulong(1), zero, zero, zero) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(err)}")


def command_line(policy: Policy, command: Sequence[str], python: str = sys.executable) -> list[str]:
    """The command line that runs ``command`` through this launcher under ``policy``."""
    line = [python, "-m", "app.sandbox"]
    for flag, values in (("--deny", policy.deny), ("--read", policy.read), ("--write", policy.write)):
        for value in values:
            line += [flag, str(value)]
    for flag, ports in (("--bind-tcp", policy.bind_tcp), ("--connect-tcp", policy.connect_tcp)):
        for port in ports or ():
            line += [flag, str(port)]
    if policy.bind_tcp == () or policy.connect_tcp == ():
        line.append("--no-other-tcp")
    if policy.hide_processes:
        line.append("--hide-processes")
    return [*line, "--", *command]


def _parse(argv: Sequence[str]) -> tuple[Policy, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m app.sandbox",
        usage="%(prog)s [--deny DIR ...] [--read PATH ...] [--write DIR ...] [--hide-processes] "
        "[--bind-tcp PORT ...] [--connect-tcp PORT ...] -- COMMAND [ARG ...]",
        description="Run COMMAND unable to read the --deny folders or to write outside the --write "
        "folders (Landlock).",
    )
    parser.add_argument("--deny", action="append", default=[], help="a folder it may not read")
    parser.add_argument("--read", action="append", default=[], help="a path it may read, even if denied")
    parser.add_argument("--write", action="append", default=[], help="a folder it may write in")
    parser.add_argument("--bind-tcp", action="append", type=int, help="the only TCP ports it may listen on")
    parser.add_argument("--connect-tcp", action="append", type=int, help="the only TCP ports it may reach")
    parser.add_argument("--no-other-tcp", action="store_true", help="restrict TCP even with no port given")
    parser.add_argument("--hide-processes", action="store_true", help="deny /proc/<pid> of other processes")
    argv = list(argv)
    if "--" not in argv:
        parser.error("give the command after --")
    split = argv.index("--")
    options, command = parser.parse_args(argv[:split]), argv[split + 1 :]
    if not command:
        parser.error("give the command after --")
    tcp = options.no_other_tcp or options.bind_tcp is not None or options.connect_tcp is not None
    policy = Policy(
        deny=tuple(map(Path, options.deny)),
        write=tuple(map(Path, options.write)),
        read=tuple(map(Path, options.read)),
        bind_tcp=tuple(options.bind_tcp or ()) if tcp else None,
        connect_tcp=tuple(options.connect_tcp or ()) if tcp else None,
        hide_processes=options.hide_processes,
    )
    return policy, command


def main(argv: Sequence[str] | None = None) -> NoReturn:
    policy, command = _parse(sys.argv[1:] if argv is None else argv)
    try:
        abi = restrict(policy)
    except (SandboxUnavailable, ValueError, OSError) as e:
        print(f"sandbox: not running {command[0]}: {e}", file=sys.stderr)
        sys.exit(126)
    denied = ", ".join(map(str, policy.deny)) or "nothing"
    writable = ", ".join(map(str, (*policy.write, *ALWAYS_WRITABLE)))
    print(f"sandbox: Landlock ABI {abi}; unreadable: {denied}; writable: {writable}", file=sys.stderr)
    sys.stderr.flush()
    try:
        os.execvp(command[0], command)
    except OSError as e:
        print(f"sandbox: cannot run {command[0]}: {e}", file=sys.stderr)
        sys.exit(127)


if __name__ == "__main__":
    main()
