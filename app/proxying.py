"""Forwarding a browser's request to a server on 127.0.0.1 (Label Studio, the Streamlit UI) and
streaming its answer back as it comes, never buffered whole."""

from __future__ import annotations

from collections.abc import AsyncIterable

import httpx
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}


async def forward(
    base_url: str,
    method: str,
    target: str,
    params: list[tuple[str, str]],
    headers: dict[str, str],
    body: AsyncIterable[bytes] | bytes | None,
    dropped_response_headers: set[str],
    unreachable: str,
) -> StreamingResponse | JSONResponse:
    """``method target`` on ``base_url``; 503 with ``unreachable`` (plus the reason) when it is down."""
    client = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(60, read=300))
    upstream = client.build_request(method, target, params=params, headers=headers, content=body)
    try:
        resp = await client.send(upstream, stream=True)
    except httpx.TransportError as e:
        await client.aclose()
        return JSONResponse({"detail": f"{unreachable} ({type(e).__name__}: {e})"}, status_code=503)

    async def close() -> None:
        await resp.aclose()
        await client.aclose()

    out = StreamingResponse(resp.aiter_raw(), status_code=resp.status_code, background=BackgroundTask(close))
    dropped = HOP_BY_HOP | dropped_response_headers
    # multi_items keeps repeated headers (two Set-Cookie) apart; the raw bytes keep their encoding
    out.raw_headers = [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in resp.headers.multi_items()
        if k.lower() not in dropped
    ]
    return out
