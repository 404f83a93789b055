"""A file of the service's storage as an HTTP response, the same for a local folder and for S3:
the whole file (200) or the byte range a ``Range`` header asks for (206 with ``Content-Range``), 416
for a range that starts past the end, the headers alone for HEAD, and ``Accept-Ranges: bytes``
always, which is what a browser's video player needs to seek."""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse

from worker.state.storage import Storage

_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE)


class RangeNotSatisfiable(Exception):
    """The range asked for starts past the end of the file."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The range of a ``Range`` header as ``(start, end)``, end exclusive and at most ``size``:
    ``bytes=first-last``, ``bytes=first-`` (to the end) or ``bytes=-n`` (the last n bytes). None to
    send the whole file: no header, another unit, a malformed range or several of them (RFC 9110
    lets a server ignore those). Raises RangeNotSatisfiable when it starts past the end."""
    match = _RANGE.fullmatch((header or "").strip())
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if not first:
        start, end = size - min(int(last), size), size
        if int(last) == 0:
            raise RangeNotSatisfiable
    else:
        start, end = int(first), size if not last else min(int(last) + 1, size)
        if last and int(last) < start:
            return None
    if start >= size:
        raise RangeNotSatisfiable
    return start, end


def stored_file(
    request: Request,
    storage: Storage,
    key: str,
    media_type: str,
    filename: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """``key`` of ``storage`` as the answer to ``request`` (GET or HEAD); ``filename`` makes it an
    attachment of that name. Remote storage is read range by range (``Storage.iter_bytes``): a
    request for a few bytes of a large video fetches those bytes only."""
    local = storage.local_path(key)
    if local is not None:
        # Starlette serves ranges of local files (several too, as multipart/byteranges) and HEAD
        return FileResponse(local, media_type=media_type, filename=filename, headers=headers)
    size = storage.size(key)
    headers = {**(headers or {}), "Accept-Ranges": "bytes"}
    if filename is not None:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    try:
        # with If-Range the client's copy may be stale: the whole file is always a right answer
        span = None if "if-range" in request.headers else byte_range(request.headers.get("range"), size)
    except RangeNotSatisfiable:
        detail = f"the range {request.headers['range']!r} starts past the end of the file ({size} bytes)"
        return JSONResponse({"detail": detail}, status_code=416, headers={"Content-Range": f"bytes */{size}"})
    start, end = span or (0, size)
    if span is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    status = 200 if span is None else 206
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    return StreamingResponse(
        storage.iter_bytes(key, start, end), status_code=status, headers=headers, media_type=media_type
    )
