"""What the proxies share (Label Studio, FiftyOne, the Streamlit UI): the one canonical form of a
request's path that their allow-lists check and that is forwarded, the refusal the allow-lists
raise, and forwarding a browser's request to a server on 127.0.0.1 with its answer streamed back as
it comes, never buffered whole.

Why a canonical path: an allow-list that matches ``/static/...`` is worthless if the path it saw is
not the path the server resolves. ``/static/../api/projects``, ``%2e%2e``, an encoded slash
(``..%2fapi``) or a double encoding (``%252e``) each read as one route to a prefix check and as
another to the HTTP client (which removes dot segments) or to the server behind it. So the path is
decoded exactly once, refused outright when any spelling could resolve elsewhere, and that same
string, re-encoded, is what goes upstream.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse
from collections.abc import AsyncIterable, Callable

import httpx
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from core.names import UNSEEN_CATEGORIES

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}


class Refused(Exception):
    """An allow-list said no: ``status`` (403 or 404) and what the user may do instead."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


# escapes that would smuggle a separator or a second decoding past the one decoding done here
_SMUGGLING = re.compile(rb"%(2f|5c|25)", re.IGNORECASE)
_ESCAPE = re.compile(rb"%(?![0-9a-fA-F]{2})")  # a '%' not followed by two hex digits
# what stays literal when the canonical path is encoded again for the upstream request
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def canonical_path(raw_path: bytes) -> str:
    """The request path decoded once: ``raw_path`` as it came on the request line (no query).

    Refused(400) for anything that a server could resolve to another route than it reads as here:
    ``.`` or ``..`` segments in any spelling, empty segments (``//``), encoded ``/`` or ``\\``,
    ``%25`` (a second decoding), malformed escapes or UTF-8, ``\\``, ``?`` or ``#`` once decoded, and
    control or format characters."""
    if not raw_path.startswith(b"/") or not raw_path.isascii():
        raise Refused(
            400, "the request path must start with '/' and be plain ASCII (percent-encode the rest)"
        )
    if _SMUGGLING.search(raw_path) or _ESCAPE.search(raw_path):
        raise Refused(
            400, "the request path may not encode '/', '\\' or '%' (%2F, %5C, %25) nor hold a stray '%'"
        )
    try:
        path = urllib.parse.unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "the request path is not valid UTF-8 once decoded") from None
    # characters that name no route of ours but change how a path is read (query, fragment, Windows
    # separators) or how it looks (control and format characters: NUL, right-to-left overrides)
    if any(c in "\\?#" or unicodedata.category(c) in UNSEEN_CATEGORIES for c in path):
        raise Refused(400, "the request path holds a backslash, '?', '#' or a control character")
    segments = path.split("/")[1:]
    if any(s in (".", "..") for s in segments) or "" in segments[:-1]:
        raise Refused(400, "the request path may not hold '.' or '..' segments or '//'")
    return path


def request_path(scope: dict) -> str:
    """The canonical path of an ASGI request (see ``canonical_path``), which must also be the path
    the router matched: a server that decoded it otherwise is refused rather than trusted."""
    path = canonical_path(scope.get("raw_path") or scope["path"].encode("utf-8"))
    if path != scope["path"]:
        raise Refused(400, "the request path reads differently once decoded; send it plainly encoded")
    return path


def upstream_target(path: str) -> str:
    """``path`` (canonical) encoded for the request to the server behind a proxy: each character
    that is not plain in a path is percent-encoded, so nothing in it is decoded twice or read as a
    query; and, having no dot segments, the HTTP client has nothing to resolve."""
    return urllib.parse.quote(path, safe=_PATH_SAFE)


async def read_body(request, limit: int) -> bytes:
    """A request's whole body for checking, Refused(413) past ``limit`` bytes (declared or sent)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"the request body is over {limit:,} bytes; send less")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"the request body is over {limit:,} bytes; send less")
        chunks.append(chunk)
    return b"".join(chunks)


class CanonicalPaths:
    """ASGI middleware: every HTTP and WebSocket request to the service has a canonical path
    (``canonical_path``), else 400 (a WebSocket is closed) before any route sees it."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            try:
                request_path(scope)
            except Refused as e:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                await JSONResponse({"detail": e.detail}, status_code=e.status)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def forward(
    base_url: str,
    method: str,
    target: str,
    params: list[tuple[str, str]],
    headers: dict[str, str],
    body: AsyncIterable[bytes] | bytes | None,
    dropped_response_headers: set[str],
    unreachable: Callable[[Exception], str],
    read_timeout_s: float | None = 300,
    location_prefix: str = "",
    rewrite: Callable[[bytes], bytes] | None = None,
) -> Response:
    """``method target`` on ``base_url`` (``target``: a canonical path, encoded here); 503 with
    ``unreachable(error)`` when it does not answer.
    ``read_timeout_s`` None lets an answer stream for as long as it lasts (event streams);
    ``location_prefix`` goes before a redirect to a path of the server, which is the proxy's path;
    ``rewrite`` changes the answer's (decoded) body, read whole: for small pages only."""
    client = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(60, read=read_timeout_s))
    upstream = client.build_request(
        method, upstream_target(target), params=params, headers=headers, content=body
    )
    try:
        resp = await client.send(upstream, stream=True)
    except httpx.TransportError as e:
        await client.aclose()
        return JSONResponse({"detail": unreachable(e)}, status_code=503)

    async def close() -> None:
        await resp.aclose()
        await client.aclose()

    dropped = HOP_BY_HOP | dropped_response_headers
    if rewrite is None:
        out = StreamingResponse(
            resp.aiter_raw(), status_code=resp.status_code, background=BackgroundTask(close)
        )
    else:
        try:
            content = rewrite(await resp.aread())
        finally:
            await close()
        out = Response(content, status_code=resp.status_code)  # with its own Content-Length
        dropped |= {"content-length", "content-encoding"}
    # multi_items keeps repeated headers (two Set-Cookie) apart; the raw bytes keep their encoding
    out.raw_headers = [
        *out.raw_headers,
        *(
            (k.lower().encode("latin-1"), _relocated(k, v, location_prefix).encode("latin-1"))
            for k, v in resp.headers.multi_items()
            if k.lower() not in dropped
        ),
    ]
    return out


def _relocated(name: str, value: str, prefix: str) -> str:
    return prefix + value if prefix and name.lower() == "location" and value.startswith("/") else value
