"""File storage over fsspec: a local folder by default, S3-compatible object storage by URL.

Keys are relative, ``/``-separated paths chosen by the service (never by users), e.g.
``projects/3/videos/<uuid>.mp4``. Writes go to a temporary key first and are renamed into place,
so a reader never sees a half-written file.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import fsspec
from fsspec.implementations.local import LocalFileSystem

from core.atomic import atomic_path


class Storage:
    """Put, open, delete and list files under one root (a folder or an fsspec URL)."""

    def __init__(self, url: str, options: dict[str, Any] | None = None) -> None:
        self.fs, self.root = fsspec.core.url_to_fs(url, **(options or {}))
        self.root = self.root.rstrip("/")
        self.is_local = isinstance(self.fs, LocalFileSystem)
        if self.is_local:
            self.fs.makedirs(self.root, exist_ok=True)

    def path(self, key: str) -> str:
        """The full fsspec path of ``key``; rejects absolute keys and ``..`` segments."""
        parts = key.split("/")
        if not key or key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid storage key {key!r}: use a relative path without '.' or '..' parts")
        return f"{self.root}/{key}"

    def local_path(self, key: str) -> Path | None:
        """The file on local disk holding ``key``, or None for remote storage."""
        return Path(self.path(key)) if self.is_local else None

    def _tmp_path(self, key: str) -> str:
        parent, _, name = self.path(key).rpartition("/")
        self.fs.makedirs(parent, exist_ok=True)
        return f"{parent}/.{name}.{uuid.uuid4().hex}.tmp"

    def put_file(self, local_file: Path, key: str, keep: bool = False) -> None:
        """Move ``local_file`` into storage as ``key``; with ``keep`` it is copied and left in place."""
        tmp = self._tmp_path(key)
        try:
            if not self.is_local:
                self.fs.put_file(str(local_file), tmp)
            elif keep:
                shutil.copyfile(local_file, tmp)
            else:
                shutil.move(local_file, tmp)
            self.fs.mv(tmp, self.path(key))
        finally:
            self._discard(tmp)
        if not keep:
            Path(local_file).unlink(missing_ok=True)

    def get_file(self, key: str, local_file: Path) -> None:
        """Copy ``key`` to ``local_file`` (written under a temporary name, then renamed)."""
        with atomic_path(local_file) as tmp:
            self.fs.get_file(self.path(key), str(tmp))

    def put_stream(self, chunks: Iterable[bytes], key: str) -> int:
        """Write ``chunks`` to ``key``; returns the number of bytes written."""
        tmp = self._tmp_path(key)
        size = 0
        try:
            with self.fs.open(tmp, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
                    size += len(chunk)
            self.fs.mv(tmp, self.path(key))
        finally:
            self._discard(tmp)
        return size

    def open(self, key: str, block_size: int | None = None) -> BinaryIO:
        """Open ``key`` for reading (binary, seekable). ``block_size``: the least a read of remote
        storage fetches, and caches (default: fsspec's, 5 MiB for S3); smaller for reads here and
        there, such as a video decoder's seeking to one frame."""
        return self.fs.open(self.path(key), "rb", block_size=block_size)

    def iter_bytes(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 4 * 1024 * 1024
    ) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive; default: the end) of ``key``, in chunks of at most
        ``chunk_size`` bytes, each one ranged read: no more than asked is fetched (from S3 one GET
        per chunk, about as many as fsspec's 5 MiB read-ahead made for a whole file)."""
        path = self.path(key)
        end = self.size(key) if end is None else end
        for offset in range(start, end, chunk_size):
            yield self.fs.cat_file(path, start=offset, end=min(offset + chunk_size, end))

    def size(self, key: str) -> int:
        """Size of ``key`` in bytes."""
        return int(self.fs.size(self.path(key)))

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self.path(key)))

    def delete(self, key: str) -> None:
        """Remove the file ``key`` or everything under the prefix ``key``; missing keys are ignored."""
        path = self.path(key)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def list(self, prefix: str) -> list[str]:
        """All keys under ``prefix`` (recursive), sorted; temporary files are left out."""
        base = self.path(prefix)
        if not self.fs.exists(base):
            return []
        keys = [p[len(self.root) + 1 :] for p in self.fs.find(base)]
        return sorted(k for k in keys if not k.rpartition("/")[2].startswith("."))

    def _discard(self, tmp: str) -> None:
        if self.fs.exists(tmp):
            self.fs.rm(tmp)
