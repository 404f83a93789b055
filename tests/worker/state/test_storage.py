"""Storage through fsspec, on a local folder and on a local S3-compatible server (moto)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from worker.state.storage import Storage


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return Storage(str(tmp_path / "store"))
    url, options = request.getfixturevalue("s3_storage")
    return Storage(url, options)


def _everything(storage: Storage) -> list[str]:
    """Every object under the storage root, temporary files included."""
    return sorted(storage.fs.find(storage.root))


def test_put_stream_open_list_delete(storage: Storage) -> None:
    assert storage.put_stream([b"ab", b"cd"], "p/1/a.bin") == 4
    storage.put_stream(iter([b"x"]), "p/1/sub/b.bin")
    storage.put_stream([b"y"], "p/2/c.bin")
    with storage.open("p/1/a.bin") as f:
        assert f.read() == b"abcd"
    assert list(storage.iter_bytes("p/1/a.bin", chunk_size=3)) == [b"abc", b"d"]
    assert storage.size("p/1/a.bin") == 4 and storage.exists("p/1/a.bin")
    assert storage.list("p/1") == ["p/1/a.bin", "p/1/sub/b.bin"]
    storage.delete("p/1")
    assert storage.list("p") == ["p/2/c.bin"] and not storage.exists("p/1/a.bin")
    storage.delete("p/1")  # missing: ignored
    assert storage.list("nothing/here") == []


def test_iter_bytes_reads_a_byte_range(storage: Storage) -> None:
    storage.put_stream([b"0123456789"], "a.bin")
    assert list(storage.iter_bytes("a.bin", 2, 7, chunk_size=2)) == [b"23", b"45", b"6"]
    assert list(storage.iter_bytes("a.bin", 8)) == [b"89"]
    assert list(storage.iter_bytes("a.bin", 4, 4)) == []


def test_get_file_makes_a_file_the_lab_can_read(storage: Storage, tmp_path: Path) -> None:
    storage.put_stream([b"labels"], "p/CollectedData.csv")
    old = os.umask(0o022)
    try:
        storage.get_file("p/CollectedData.csv", tmp_path / "cache" / "CollectedData.csv")
    finally:
        os.umask(old)
    local = tmp_path / "cache" / "CollectedData.csv"
    assert local.read_bytes() == b"labels" and stat.S_IMODE(local.stat().st_mode) == 0o644
    assert [p.name for p in local.parent.iterdir()] == ["CollectedData.csv"]


def test_put_file_moves_the_file_in(storage: Storage, tmp_path: Path) -> None:
    src = tmp_path / "upload.part"
    src.write_bytes(b"video")
    storage.put_file(src, "v/a.mp4")
    assert not src.exists() and b"".join(storage.iter_bytes("v/a.mp4")) == b"video"
    assert _everything(storage) == [f"{storage.root}/v/a.mp4"]


def test_failed_stream_leaves_nothing(storage: Storage) -> None:
    def broken() -> Iterator[bytes]:
        yield b"partial"
        raise OSError("client went away")

    with pytest.raises(OSError, match="client went away"):
        storage.put_stream(broken(), "v/a.bin")
    assert not storage.exists("v/a.bin") and _everything(storage) == []


def test_overwrite_replaces_whole_file(storage: Storage) -> None:
    storage.put_stream([b"old content"], "a.txt")
    storage.put_stream([b"new"], "a.txt")
    assert b"".join(storage.iter_bytes("a.txt")) == b"new"


def test_local_path_only_for_local_storage(tmp_path: Path, s3_storage: tuple[str, dict[str, Any]]) -> None:
    assert Storage(str(tmp_path)).local_path("p/c.bin") == tmp_path / "p" / "c.bin"
    assert Storage(*s3_storage).local_path("p/c.bin") is None


@pytest.mark.parametrize("key", ["", "/abs", "../x", "a/../../x", "a//b", "a\\b", "./a"])
def test_unsafe_keys_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="invalid storage key"):
        Storage(str(tmp_path)).path(key)
