"""At most ``limit`` requests at a time inside the service; the others wait their turn, first come
first served.

Every route runs its database work in the thread pool, holding one of the engine's pooled
connections from its first query until the request ends. Without a bound, 50 clients polling the
job list put 50 requests in flight for 15 connections: most threads waited on the pool, switching
the interpreter's lock among them (a fifth of the CPU went to the kernel), and which request went
next was left to chance, so the slowest 1 % waited 2.5x the median. Queued here, in order, they
cost nothing while they wait, and a request's time is its place in the queue.

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


class AdmissionQueue:
    """ASGI middleware: HTTP requests enter the application ``limit`` at a time, in arrival order."""

    def __init__(self, app: ASGIApp, limit: int, stream_from: int, unqueued: tuple[str, ...] = ()) -> None:
        self.app, self.limit, self.stream_from, self.unqueued = app, limit, stream_from, unqueued
        self._slots: asyncio.Semaphore | None = None  # made in the server's event loop

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
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        await self._slots.acquire()
        held = True

        def give_back() -> None:
            nonlocal held
            if held:
                held = False
                self._slots.release()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                give_back()
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            give_back()
