"""Names people give things (a project, its keypoints and views): printable text that reads the same
everywhere it is shown or stored, in a label file's header, a page, a log or a file name."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

MAX_NAME_LENGTH = 200
"""Characters in a name (the database's column width)."""

UNSEEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
"""Unicode categories that print nothing or change how the text around them reads: control characters
(NUL, line breaks), format characters (right-to-left overrides, zero-width spaces), surrogates, private
use, unassigned code points, and line and paragraph separators."""


def _refuse(problem: str) -> PydanticCustomError:
    return PydanticCustomError("name", "{problem}", {"problem": problem})


def checked_name(name: str) -> str:
    """``name`` without surrounding spaces; refused (naming the problem) when that is empty, ``.`` or
    ``..``, or holds ``/``, ``\\`` or a character that prints nothing (see ``UNSEEN_CATEGORIES``)."""
    unseen = sorted({f"U+{ord(c):04X}" for c in name if unicodedata.category(c) in UNSEEN_CATEGORIES})
    if unseen:
        raise _refuse(
            f"names may not hold control or invisible formatting characters (found {', '.join(unseen)}); "
            "type the name with printable characters only"
        )
    name = name.strip()
    if not name:
        raise _refuse("names may not be empty or only spaces")
    if "/" in name or "\\" in name:
        raise _refuse(f"names may not hold '/' or '\\' (got {name!r}); use '-' or '_' instead")
    if name in (".", ".."):
        raise _refuse(f"{name!r} is not a name; choose a word")
    return name


Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH), AfterValidator(checked_name)]
"""A name as it enters the system (a project.yaml, an API request), checked by ``checked_name``."""
