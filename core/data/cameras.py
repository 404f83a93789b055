"""Separate synchronized cameras: which view a video or labeled image belongs to, and which files
of different views show the same moment.

A file belongs to view ``top`` when ``top`` is a word of its name: delimited by non-alphanumeric
characters or the ends (``session1_top.mp4``, ``labeled-data/session1_top/img012.png``, not
``topdown.mp4``). Files of different views show the same moment (a *session*) when their names are
equal once the view word is taken out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from core.errors import LabelFormatError, VideoError


def _word(view: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(view)}(?![A-Za-z0-9])")


def views_in(name: str, views: Sequence[str]) -> list[str]:
    """The views of ``views`` that are a word of ``name``."""
    return [view for view in views if _word(view).search(name)]


def session_of(name: str, view: str) -> str:
    """``name`` with the word ``view`` replaced by ``{view}``: the same for every view of one session."""
    return _word(view).sub("{view}", name)


def camera_session(name: str, views: Sequence[str]) -> tuple[str, str] | None:
    """``(session, view)`` of a file name holding exactly one of ``views`` as a word, else None."""
    found = views_in(name, views)
    return (session_of(name, found[0]), found[0]) if len(found) == 1 else None


def group_videos(videos: Sequence[Path], views: Sequence[str]) -> list[list[Path]]:
    """The videos of separate cameras grouped by session, each group in ``views`` order (one view:
    every video a session of its own).

    Raises:
        VideoError: a video whose name holds no view word or several, two videos of one view in a
            session, or a session that lacks a view; the message names the files and the fix.
    """
    if len(views) == 1:
        return [[video] for video in videos]
    sessions: dict[str, dict[str, Path]] = {}
    for video in videos:
        found = camera_session(video.stem, views)
        if found is None:
            what = "several of" if views_in(video.stem, views) else "none of"
            raise VideoError(
                f"{video.name}: the file name holds {what} the project's views ({', '.join(views)}) as a word; "
                f"name each camera's video after its session and view, e.g. session1_{views[0]}{video.suffix}"
            )
        session, view = found
        per_view = sessions.setdefault(session, {})
        if view in per_view:
            raise VideoError(
                f"{per_view[view].name} and {video.name} are both the {view} view of one session; "
                "keep one video per view and session"
            )
        per_view[view] = video
    groups = []
    for session, per_view in sorted(sessions.items()):
        missing = [view for view in views if view not in per_view]
        if missing:
            raise VideoError(
                f"session {session!r} has no video for view(s) {', '.join(missing)} (it has "
                f"{', '.join(p.name for p in per_view.values())}); every session needs one video per view"
            )
        groups.append([per_view[view] for view in views])
    return groups


def check_rows_aligned(indexes: Sequence[Sequence[str]], views: Sequence[str], paths: Sequence[Path]) -> None:
    """Raise a LabelFormatError unless the label files of separate cameras (one index of image names
    per view) have the same number of rows and, where the view's name is a word of the image names,
    row i of every file names the same session and frame."""
    counts = {len(index) for index in indexes}
    if len(counts) > 1:
        shown = ", ".join(f"{p.name}: {len(i)}" for p, i in zip(paths, indexes, strict=True))
        raise LabelFormatError(
            f"the label files of the camera views have different numbers of rows ({shown}); row i of every "
            "view's file must be the same moment, so each file needs the same frames in the same order"
        )
    for row, names in enumerate(zip(*indexes, strict=True)):
        pairs = list(zip(names, views, strict=True))
        if all(views_in(n, [v]) for n, v in pairs) and len({session_of(n, v) for n, v in pairs}) > 1:
            raise LabelFormatError(
                f"row {row} of the camera views' label files names different frames ({', '.join(names)}); "
                "sort every view's file so row i is the same moment in each"
            )
