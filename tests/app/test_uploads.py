"""Receiving an upload body into a file within a size limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.uploads import EmptyUploadError, SizeLimit, UploadTooLargeError, check_declared_size, receive_to_file
from core.errors import PoseCloudError

TEN = SizeLimit(10, "upload", "POSECLOUD_MAX_UPLOAD_BYTES")
FIVE = SizeLimit(5, "upload", "POSECLOUD_MAX_UPLOAD_BYTES")


async def _chunks(*parts: bytes, fail: bool = False) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    if fail:
        raise ConnectionResetError("client disconnected")


def test_declared_size_checks() -> None:
    check_declared_size(None, TEN)
    check_declared_size("10", TEN)
    with pytest.raises(
        UploadTooLargeError,
        match="upload is 11 bytes but the limit is 10 bytes .* POSECLOUD_MAX_UPLOAD_BYTES",
    ):
        check_declared_size("11", TEN)
    with pytest.raises(EmptyUploadError, match="the upload is empty"):
        check_declared_size("0", TEN)
    with pytest.raises(PoseCloudError, match="Content-Length header '12x' is not a number of bytes"):
        check_declared_size("12x", TEN)


@pytest.mark.anyio
async def test_receive_writes_chunks(tmp_path: Path) -> None:
    dest = tmp_path / "sub" / "a.part"
    assert await receive_to_file(_chunks(b"abc", b"de"), dest, FIVE) == 5
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
        await receive_to_file(_chunks(*parts, fail=fail), dest, FIVE)
    assert not dest.exists()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
