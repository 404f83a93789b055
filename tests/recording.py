"""What reaches the server behind a proxy, recorded on the wire: a small HTTP server on 127.0.0.1
that notes each request's method, raw target, headers and body exactly as they arrive, then either
relays the request to a real server (``upstream_port``) and its answer back, or, standing in for
one, answers ``200 {}``."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from dataclasses import dataclass


@dataclass
class Seen:
    method: str
    target: bytes  # as on the request line: path and query, still encoded
    headers: dict[str, str]  # names lower-cased
    body: bytes


def _read_head(stream) -> bytes | None:
    lines = []
    while True:
        line = stream.readline(65537)
        if not line:
            return None
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)


def _parse(head: bytes) -> tuple[str, bytes, dict[str, str]]:
    first, *rest = head.split(b"\r\n")
    method, target, _version = first.split(b" ", 2)
    headers = {}
    for line in rest:
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    return method.decode("ascii"), target, headers


class Recorder:
    """Start with ``with Recorder(upstream_port) as r``; ``r.port`` to send to, ``r.seen`` the log."""

    def __init__(self, upstream_port: int | None = None) -> None:
        self.upstream_port = upstream_port
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                recorder._serve(self.connection, self.rfile)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]

    def __enter__(self) -> Recorder:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def take(self) -> list[Seen]:
        """The requests recorded since the last ``take``."""
        with self._lock:
            taken, self.seen = self.seen, []
        return taken

    def _serve(self, client: socket.socket, reader) -> None:
        upstream = None
        if self.upstream_port is not None:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
        try:
            while (head := _read_head(reader)) is not None:
                method, target, headers = _parse(head)
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    raise AssertionError(f"a chunked body reached the upstream: {method} {target!r}")
                body = reader.read(int(headers.get("content-length", "0")))
                with self._lock:
                    self.seen.append(Seen(method, target, headers, body))
                if upstream is not None:
                    upstream.sendall(head + body)
                else:
                    client.sendall(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
                    )
        finally:
            if upstream is not None:
                upstream.shutdown(socket.SHUT_WR)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
