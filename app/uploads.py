"""Receive an upload body chunk by chunk into a local file, in constant memory, within a size limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from core.errors import PoseCloudError


class UploadTooLargeError(PoseCloudError):
    """The upload is larger than the configured limit."""


class EmptyUploadError(PoseCloudError):
    """The upload has no content."""


_EMPTY = "the upload is empty (0 bytes); send the file content as the request body"


def _too_large(size: str, limit: int) -> UploadTooLargeError:
    return UploadTooLargeError(
        f"upload is {size} but the limit is {limit} bytes ({limit / 1e6:.1f} MB); upload a smaller file "
        "or ask the administrator to raise POSECLOUD_MAX_UPLOAD_BYTES"
    )


def check_declared_size(content_length: str | None, limit: int) -> None:
    """Reject early an upload whose ``Content-Length`` header already exceeds ``limit`` bytes."""
    if content_length is None:
        return
    if not content_length.isdigit():
        raise PoseCloudError(f"Content-Length header {content_length!r} is not a number of bytes")
    if int(content_length) == 0:
        raise EmptyUploadError(_EMPTY)
    if int(content_length) > limit:
        raise _too_large(f"{int(content_length)} bytes", limit)


async def receive_to_file(chunks: AsyncIterator[bytes], dest: Path, limit: int) -> int:
    """Append ``chunks`` to a new file ``dest``; returns its size in bytes.

    Stops as soon as more than ``limit`` bytes arrived; on any error ``dest`` is removed.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    try:
        with dest.open("xb") as f:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise _too_large(f"more than {limit} bytes", limit)
                f.write(chunk)
        if size == 0:
            raise EmptyUploadError(_EMPTY)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return size
