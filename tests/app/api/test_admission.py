"""The admission queue: requests let in one at a time in arrival order, the next when the response
starts or the one inside has taken ``alone_s``, at most ``limit`` inside; uploads, WebSockets and
the proxied paths are not queued."""

from __future__ import annotations

import asyncio

import pytest

from app.api.admission import AdmissionQueue


class Recorder:
    """An ASGI app whose requests wait inside until the test lets each one answer."""

    def __init__(self) -> None:
        self.entered: list[str] = []
        self.answer: dict[str, asyncio.Event] = {}

    async def __call__(self, scope, receive, send) -> None:
        name = scope["path"]
        self.entered.append(name)
        await self.answer.setdefault(name, asyncio.Event()).wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await self.answer.setdefault(name + "/body", asyncio.Event()).wait()
        await send({"type": "http.response.body", "body": b""})


def scope(path: str, headers: list[tuple[bytes, bytes]] | None = None, kind: str = "http") -> dict:
    return {"type": kind, "path": path, "headers": headers or []}


async def nothing() -> dict:
    return {"type": "http.request", "body": b""}


async def sent(_message: dict) -> None:
    pass


async def _arrive(queue: AdmissionQueue, names: list[str]) -> list[asyncio.Task]:
    """Requests to ``names``, each arriving before the next."""
    tasks = []
    for name in names:
        tasks.append(asyncio.create_task(queue(scope(name), nothing, sent)))
        await asyncio.sleep(0)
    return tasks


async def _answer_all(app: Recorder, tasks: list[asyncio.Task], names: list[str]) -> None:
    for name in names:
        app.answer.setdefault(name, asyncio.Event()).set()
        app.answer.setdefault(name + "/body", asyncio.Event()).set()
    await asyncio.gather(*tasks)
    assert app.entered == names


def test_requests_enter_one_at_a_time_in_arrival_order() -> None:
    async def run() -> None:
        app = Recorder()
        queue = AdmissionQueue(app, limit=8, stream_from=1000, alone_s=60)
        names = [f"/r{i}" for i in range(4)]
        tasks = await _arrive(queue, names)
        await asyncio.sleep(0.05)
        assert app.entered == ["/r0"]  # quick requests inside together only share the interpreter lock
        app.answer.setdefault("/r0", asyncio.Event()).set()
        await asyncio.sleep(0.01)
        # the next is in once the response starts, though the body is still to come
        assert app.entered == ["/r0", "/r1"]
        await _answer_all(app, tasks, names)

    asyncio.run(run())


def test_a_slow_request_lets_the_next_in_beside_it_up_to_the_limit() -> None:
    async def run() -> None:
        app = Recorder()
        queue = AdmissionQueue(app, limit=2, stream_from=1000, alone_s=0.05)
        names = [f"/r{i}" for i in range(4)]
        tasks = await _arrive(queue, names)
        await asyncio.sleep(0.01)
        assert app.entered == ["/r0"]
        await asyncio.sleep(0.1)  # /r0 is slow: /r1 is let in beside it, and no more (the limit)
        assert app.entered == ["/r0", "/r1"]
        await asyncio.sleep(0.1)
        assert app.entered == ["/r0", "/r1"]
        app.answer.setdefault("/r1", asyncio.Event()).set()  # answered out of order: /r2 enters next
        await asyncio.sleep(0.01)
        assert app.entered == ["/r0", "/r1", "/r2"]
        await _answer_all(app, tasks, names)

    asyncio.run(run())


def test_a_request_that_fails_gives_its_slot_back() -> None:
    async def failing(scope, receive, send) -> None:
        raise RuntimeError("broken route")

    async def run() -> None:
        queue = AdmissionQueue(failing, limit=1, stream_from=1000)
        for _ in range(3):  # each would wait forever if the first had kept the only slot
            with pytest.raises(RuntimeError, match="broken route"):  # not a timeout
                await asyncio.wait_for(queue(scope("/x"), nothing, sent), timeout=1)

    asyncio.run(run())


def test_uploads_websockets_and_proxied_paths_are_not_queued() -> None:
    async def run() -> None:
        app = Recorder()
        queue = AdmissionQueue(app, limit=1, stream_from=1000, unqueued=("/labelstudio",))
        held = asyncio.create_task(queue(scope("/small", [(b"content-length", b"10")]), nothing, sent))
        await asyncio.sleep(0.01)
        others = [
            scope("/upload", [(b"content-length", b"5000")]),
            scope("/chunked", [(b"transfer-encoding", b"chunked")]),
            scope("/stream", kind="websocket"),
            scope("/labelstudio-hooks/1", [(b"content-length", b"10")]),  # a request inside may wait for it
        ]
        tasks = [asyncio.create_task(queue(s, nothing, sent)) for s in others]
        waiting = asyncio.create_task(queue(scope("/json", [(b"content-length", b"999")]), nothing, sent))
        await asyncio.sleep(0.01)
        assert app.entered == [
            "/small",
            "/upload",
            "/chunked",
            "/stream",
            "/labelstudio-hooks/1",
        ]  # /json waits
        for name in ["/small", "/upload", "/chunked", "/labelstudio-hooks/1"]:
            app.answer.setdefault(name, asyncio.Event()).set()
            app.answer.setdefault(name + "/body", asyncio.Event()).set()
        for event in ["/stream", "/stream/body", "/json", "/json/body"]:
            app.answer.setdefault(event, asyncio.Event()).set()
        await asyncio.gather(held, waiting, *tasks)
        assert app.entered[-1] == "/json"

    asyncio.run(run())
