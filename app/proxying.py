"""What the proxies share (Label Studio, FiftyOne, the Streamlit UI): the refusal their allow-lists
raise, and forwarding a browser's request to a server on 127.0.0.1 with its answer streamed back as
it comes, never buffered whole."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable

import httpx
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}


class Refused(Exception):
    """An allow-list said no: ``status`` (403 or 404) and what the user may do instead."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


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
) -> StreamingResponse | JSONResponse:
    """``method target`` on ``base_url``; 503 with ``unreachable(error)`` when it does not answer.
    ``read_timeout_s`` None lets an answer stream for as long as it lasts (event streams);
    ``location_prefix`` goes before a redirect to a path of the server, which is the proxy's path."""
    client = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(60, read=read_timeout_s))
    upstream = client.build_request(method, target, params=params, headers=headers, content=body)
    try:
        resp = await client.send(upstream, stream=True)
    except httpx.TransportError as e:
        await client.aclose()
        return JSONResponse({"detail": unreachable(e)}, status_code=503)

    async def close() -> None:
        await resp.aclose()
        await client.aclose()

    out = StreamingResponse(resp.aiter_raw(), status_code=resp.status_code, background=BackgroundTask(close))
    dropped = HOP_BY_HOP | dropped_response_headers
    # multi_items keeps repeated headers (two Set-Cookie) apart; the raw bytes keep their encoding
    out.raw_headers = [
        (k.lower().encode("latin-1"), _relocated(k, v, location_prefix).encode("latin-1"))
        for k, v in resp.headers.multi_items()
        if k.lower() not in dropped
    ]
    return out


def _relocated(name: str, value: str, prefix: str) -> str:
    return prefix + value if prefix and name.lower() == "location" and value.startswith("/") else value
