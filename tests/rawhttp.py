"""HTTP requests sent byte for byte: an HTTP client resolves ``..`` and re-encodes a path before
sending it, which is exactly what an attacker does not do."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes


def send(port: int, method: str, target: bytes, headers: dict[str, str], body: bytes | None = None) -> Answer:
    """One HTTP/1.1 request to 127.0.0.1:``port`` with ``target`` (path and query) as given."""
    head = [f"{method} ".encode() + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    head += [f"{k}: {v}".encode("latin-1") for k, v in headers.items()]
    if body is not None:
        head.append(f"Content-Length: {len(body)}".encode())
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
        # a server may answer (a refusal) before reading the whole body: then read that answer
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            s.sendall(b"\r\n".join(head) + b"\r\n\r\n" + (body or b""))
        with contextlib.suppress(ConnectionResetError):
            while chunk := s.recv(65536):
                answer += chunk
    if not answer:
        raise ConnectionError(f"no answer to {method} {target!r}")
    status_line, _, rest = answer.partition(b"\r\n")
    raw_headers, _, content = rest.partition(b"\r\n\r\n")
    parsed = {}
    for line in raw_headers.split(b"\r\n"):
        name, _, value = line.partition(b":")
        parsed[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    return Answer(int(status_line.split(b" ", 2)[1]), parsed, content)
