"""Atomic file writes: the content goes to a temporary file beside the target, which is renamed
onto it once complete, so that a reader never sees a half-written file.

The temporary file is created with the mode any new file gets (0666 less the process umask: 0644
under the usual 022), not ``tempfile.mkstemp``'s 0600: outputs are read by the whole lab.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A new, empty file beside ``path`` for a writer that opens files by name; renamed onto
    ``path`` when the block ends, removed when it raises. ``suffix`` ends the temporary name (for
    writers that pick the format from it, e.g. ``.mp4``); the name starts with a dot (hidden)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}{suffix}")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask applies
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """``open(path, mode, **kwargs)`` for writing, atomically (see ``atomic_path``)."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle
