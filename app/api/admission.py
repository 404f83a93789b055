"""Requests enter the service one at a time, first come first served, unless the one before has
been inside for ``alone_s``; at most ``limit`` inside at once.

Every route runs its database work in the thread pool, holding one of the engine's pooled
connections from its first query until the request ends. Without a bound, 50 clients polling the
job list put 50 requests in flight for 15 connections: most threads waited on the pool, switching
the interpreter's lock among them (a fifth of the CPU went to the kernel), and which request went
next was left to chance, so the slowest 1 % waited 2.5x the median. Queued here, in order, they
cost nothing while they wait, and a request's time is its place in the queue.

One at a time, because requests inside together only share one interpreter lock: each one's
queries release it and wait to get it back from another request's thread, and the process did
more work per request the more were inside (GET jobs, 50 clients, one process on the 2-core
machine: 166 requests/s with 8 inside, 223 with 2, 273 with 1; BENCHMARKS.md). But a request
that waits on something slow (Label Studio's API, a large label file) must not hold everyone up:
after ``alone_s`` the next one enters beside it, up to ``limit`` inside.

A slot is given back when the response starts (a long download does not hold one). Not queued:
requests that stream a large body (uploads, more than ``stream_from`` bytes or of unknown length)
and WebSockets, which would hold a slot for as long as they last; and the paths under ``unqueued``
(the proxied Label Studio, FiftyOne and front end, and Label Studio's webhooks), which wait on another
server rather than on the database, and which a request inside may itself be waiting for (an import
into Label Studio that notifies us): queued, the two could wait on each other.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ADMITTED = 8
"""Requests inside at once, per process: under the engine's 15 pooled connections (5 kept, 10 more
on demand), which the background threads and responses still streaming use too."""
ALONE_S = 0.02
"""How long a request is inside alone before the next one enters beside it, seconds: a job list
takes about 4 ms, a request waiting on Label Studio seconds."""


class AdmissionQueue:
    """ASGI middleware: HTTP requests enter the application one at a time in arrival order, the next
    one once the one before has answered or been inside ``alone_s``, at most ``limit`` inside."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        stream_from: int,
        unqueued: tuple[str, ...] = (),
        alone_s: float = ALONE_S,
    ) -> None:
        self.app, self.limit, self.stream_from, self.unqueued = app, limit, stream_from, unqueued
        self.alone_s = alone_s
        # made in the server's event loop: slots inside, and the turn of the request entering
        self._slots: asyncio.Semaphore | None = None
        self._turn: asyncio.Lock | None = None

    def _streams_body(self, scope: Scope) -> bool:
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is None:
            return b"transfer-encoding" in headers
        return not declared.isdigit() or int(declared) > self.stream_from

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.unqueued) or self._streams_body(scope):
            await self.app(scope, receive, send)
            return
        if self._slots is None or self._turn is None:
            self._slots, self._turn = asyncio.Semaphore(self.limit), asyncio.Lock()
        await self._turn.acquire()  # in arrival order; then a slot, still holding the turn
        try:
            await self._slots.acquire()
        except BaseException:
            self._turn.release()
            raise
        held = {"turn": True, "slot": True}

        def give_back(what: str) -> None:
            if held[what]:
                held[what] = False
                (self._turn if what == "turn" else self._slots).release()

        timer = asyncio.get_running_loop().call_later(self.alone_s, give_back, "turn")

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                give_back("turn")
                give_back("slot")
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            timer.cancel()
            give_back("turn")
            give_back("slot")
