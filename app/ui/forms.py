"""Reading what users type into the forms: lists of names and pairs of names."""

from __future__ import annotations

import re


def names(text: str) -> list[str]:
    """``"nose, ear\\ntail"`` -> ``["nose", "ear", "tail"]`` (commas, spaces or new lines between)."""
    return [name for name in re.split(r"[,\s]+", text) if name]


def pairs(text: str) -> list[list[str]]:
    """One pair per line, ``a-b``, ``a, b`` or ``a b``; a line that is not two names is kept as typed,
    so that the service's validation names it."""
    result = []
    for line in text.splitlines():
        parts = names(line)
        if len(parts) == 1 and "-" in parts[0]:
            parts = [p for p in parts[0].split("-") if p]
        if parts:
            result.append(parts)
    return result
