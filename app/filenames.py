"""Turn an untrusted client file name into a safe base name (no folders, no path tricks)."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 120


def extension(name: str) -> str:
    """The lower-cased extension of ``name`` including the dot (``".mp4"``), or ``""`` if it has none."""
    stem, dot, ext = name.rpartition(".")
    return f".{ext.lower()}" if dot and stem and ext.isalnum() and len(ext) <= 10 else ""


def safe_filename(name: str, fallback: str = "upload") -> str:
    """Keep only the last path component, made of letters, digits, ``.``, ``_`` and ``-``.

    ``"../../x.mp4"`` -> ``"x.mp4"``; ``"C:\\clips\\a b.avi"`` -> ``"a_b.avi"``. Leading dots and
    underscores are dropped, so the result is never ``..`` or hidden; an empty result becomes ``fallback``.
    """
    base = _UNSAFE.sub("_", re.split(r"[/\\]", name)[-1]).lstrip("._")
    if len(base) > MAX_NAME:
        ext = extension(base)
        base = base[: MAX_NAME - len(ext)] + ext
    return base or fallback
