"""Receiving an upload body into a file within a size limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.uploads import EmptyUploadError, UploadTooLargeError, check_declared_size, receive_to_file
from core.errors import PoseCloudError


async def _chunks(*parts: bytes, fail: bool = False) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    if fail:
        raise ConnectionResetError("client disconnected")


def test_declared_size_checks() -> None:
    check_declared_size(None, 10)
    check_declared_size("10", 10)
    with pytest.raises(UploadTooLargeError, match="upload is 11 bytes but the limit is 10 bytes"):
        check_declared_size("11", 10)
    with pytest.raises(EmptyUploadError, match="the upload is empty"):
        check_declared_size("0", 10)
    with pytest.raises(PoseCloudError, match="Content-Length header '12x' is not a number of bytes"):
        check_declared_size("12x", 10)


@pytest.mark.anyio
async def test_receive_writes_chunks(tmp_path: Path) -> None:
    dest = tmp_path / "sub" / "a.part"
    assert await receive_to_file(_chunks(b"abc", b"de"), dest, limit=5) == 5
    assert dest.read_bytes() == b"abcde"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("parts", "fail", "error"),
    [
        ((b"abc", b"def"), False, UploadTooLargeError),
        ((), False, EmptyUploadError),
        ((b"abc",), True, ConnectionResetError),
    ],
)
async def test_failed_receive_removes_the_file(
    tmp_path: Path, parts: tuple[bytes, ...], fail: bool, error: type[Exception]
) -> None:
    dest = tmp_path / "a.part"
    with pytest.raises(error):
        await receive_to_file(_chunks(*parts, fail=fail), dest, limit=5)
    assert not dest.exists()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
