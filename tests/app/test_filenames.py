"""Untrusted file names become safe base names."""

from __future__ import annotations

import pytest

from app.filenames import MAX_NAME, extension, safe_filename


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("../../x.mp4", "x.mp4"),
        ("..\\..\\x.mp4", "x.mp4"),
        ("C:\\clips\\a b.avi", "a_b.avi"),
        ("/etc/passwd", "passwd"),
        ("..", "upload"),
        ("", "upload"),
        (".hidden.mp4", "hidden.mp4"),
        ("näive\x00clip.mov", "n_ive_clip.mov"),
    ],
)
def test_safe_filename(raw: str, safe: str) -> None:
    assert safe_filename(raw) == safe


def test_long_names_keep_their_extension() -> None:
    name = safe_filename("a" * 500 + ".mp4")
    assert len(name) == MAX_NAME and name.endswith("a.mp4")


@pytest.mark.parametrize(("name", "ext"), [("x.MP4", ".mp4"), ("x", ""), ("mp4", ""), ("x.tar.gz", ".gz")])
def test_extension(name: str, ext: str) -> None:
    assert extension(name) == ext
