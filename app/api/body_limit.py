"""Request bodies that the routes parse in memory (JSON, forms) have a size limit: past it, 413 before
the body is read whole. Uploads and the proxies stream their bodies under limits of their own."""

from __future__ import annotations

from fastapi import HTTPException
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.uploads import SizeLimit


class ParsedBodyLimit:
    """ASGI middleware: a request whose route parses its body (a FastAPI route with a JSON or form
    body) is refused with 413 once it declares or sends more than ``limit`` bytes.

    The check is made when the body is first read, after routing, since only then is the route known.
    """

    def __init__(self, app: ASGIApp, limit: SizeLimit) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            route = scope.get("route")
            if not isinstance(route, APIRoute) or route.body_field is None:
                return await receive()
            if received == 0:
                declared = dict(scope["headers"]).get(b"content-length", b"")
                if declared.isdigit() and int(declared) > self.limit.bytes:
                    raise HTTPException(413, self.limit.refusal(f"{int(declared)} bytes"))
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit.bytes:
                raise HTTPException(413, self.limit.refusal(f"more than {self.limit.bytes} bytes"))
            return message

        await self.app(scope, limited, send)
