"""Receive an upload body chunk by chunk into a local file, in constant memory, within a size limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from core.errors import PoseCloudError


class UploadTooLargeError(PoseCloudError):
    """The upload is larger than the configured limit."""


class EmptyUploadError(PoseCloudError):
    """The upload has no content."""


_EMPTY = "the upload is empty (0 bytes); send the file content as the request body"


@dataclass(frozen=True)
class SizeLimit:
    """The most bytes a request body of one kind (``what``: "upload", "label file") may have, and the
    setting that raises it, named when a body is refused."""

    bytes: int
    what: str
    setting: str

    def refusal(self, size: str, subject: str = "") -> str:
        """Why a body of ``size`` ("12 bytes", "more than 10 bytes") is refused; ``subject`` names it
        (default: ``what``)."""
        return (
            f"{subject or self.what} is {size} but the limit is {self.bytes} bytes "
            f"({self.bytes / 1e6:.1f} MB); send a smaller one or ask the administrator to raise {self.setting}"
        )


def check_declared_size(content_length: str | None, limit: SizeLimit) -> None:
    """Reject early an upload whose ``Content-Length`` header already exceeds the limit."""
    if content_length is None:
        return
    if not content_length.isdigit():
        raise PoseCloudError(f"Content-Length header {content_length!r} is not a number of bytes")
    if int(content_length) == 0:
        raise EmptyUploadError(_EMPTY)
    if int(content_length) > limit.bytes:
        raise UploadTooLargeError(limit.refusal(f"{int(content_length)} bytes"))


async def receive_to_file(chunks: AsyncIterator[bytes], dest: Path, limit: SizeLimit) -> int:
    """Append ``chunks`` to a new file ``dest``; returns its size in bytes.

    Stops as soon as more than the limit arrived; on any error ``dest`` is removed.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    try:
        with dest.open("xb") as f:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit.bytes:
                    raise UploadTooLargeError(limit.refusal(f"more than {limit.bytes} bytes"))
                f.write(chunk)
        if size == 0:
            raise EmptyUploadError(_EMPTY)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return size
