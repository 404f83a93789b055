"""Local folders for a job's inputs and outputs, backed by the service's storage.

With local storage (the default) a job works directly in the storage folder, so nothing is copied.
With object storage it works in a cache folder on the worker: inputs are downloaded (skipped when an
identical-size copy is already there) and outputs uploaded when the job ends.
"""

from __future__ import annotations

from pathlib import Path

from worker.state.storage import Storage


class Workspace:
    def __init__(self, storage: Storage, cache_root: Path) -> None:
        self.storage = storage
        self.cache_root = cache_root

    def local_dir(self, prefix: str) -> Path:
        """The local folder that mirrors storage ``prefix`` (created)."""
        path = self.storage.local_path(prefix) or self.cache_root / prefix
        path.mkdir(parents=True, exist_ok=True)
        return path

    def fetch_file(self, key: str) -> Path:
        """A local copy of the file ``key``."""
        local = self.storage.local_path(key)
        if local is not None:
            return local
        local = self.cache_root / key
        if not local.is_file() or local.stat().st_size != self.storage.size(key):
            self.storage.get_file(key, local)
        return local

    def fetch(self, prefix: str) -> Path:
        """A local folder holding every file under storage ``prefix``."""
        if self.storage.is_local:
            return self.local_dir(prefix)
        for key in self.storage.list(prefix):
            self.fetch_file(key)
        return self.local_dir(prefix)

    def publish(self, prefix: str) -> list[str]:
        """Upload the local folder of ``prefix`` to storage (nothing to do for local storage); returns
        the keys under ``prefix``."""
        if not self.storage.is_local:
            root = self.local_dir(prefix)
            for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
                self.storage.put_file(path, f"{prefix}/{path.relative_to(root).as_posix()}", keep=True)
        return self.storage.list(prefix)
