"""Names: printable, non-empty, no path separators, not '.' or '..', not too long; errors say why."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from core.names import MAX_NAME_LENGTH, UNSEEN_CATEGORIES, Name

NAME = TypeAdapter(Name)
unseen = st.characters(categories=sorted(UNSEEN_CATEGORIES))
printable = st.characters(exclude_categories=sorted(UNSEEN_CATEGORIES), exclude_characters="/\\")
words = st.text(printable, min_size=1, max_size=20).filter(lambda s: s.strip() not in ("", ".", ".."))


def _problem(value: str) -> str:
    with pytest.raises(ValidationError) as caught:
        NAME.validate_python(value)
    (error,) = caught.value.errors()
    return error["msg"]


@given(before=st.text(printable, max_size=5), bad=unseen, after=st.text(printable, max_size=5))
def test_control_and_format_characters_are_refused_by_code_point(before: str, bad: str, after: str) -> None:
    assert f"U+{ord(bad):04X}" in _problem(before + bad + after)


@given(
    before=st.text(printable, max_size=5), sep=st.sampled_from("/\\"), after=st.text(printable, max_size=5)
)
def test_path_separators_are_refused(before: str, sep: str, after: str) -> None:
    if (before + after).strip():
        assert "may not hold '/' or '\\'" in _problem(before + sep + after)


@given(st.text(st.sampled_from(" \u00a0\u3000"), max_size=5))
def test_empty_or_blank_names_are_refused(blank: str) -> None:
    assert _problem(blank) in (
        "names may not be empty or only spaces",
        "String should have at least 1 character",
    )


@pytest.mark.parametrize("dots", [".", "..", " .. "])
def test_dot_names_are_refused(dots: str) -> None:
    assert "is not a name" in _problem(dots)


def test_names_have_a_length_limit() -> None:
    assert NAME.validate_python("a" * MAX_NAME_LENGTH) == "a" * MAX_NAME_LENGTH
    assert f"at most {MAX_NAME_LENGTH} characters" in _problem("a" * (MAX_NAME_LENGTH + 1))


@given(words)
def test_printable_names_are_kept_without_surrounding_spaces(word: str) -> None:
    assert NAME.validate_python(f" {word} ") == word.strip()


# where a name sits in a project's settings: a bad name put there, for each field that takes names
NAME_FIELDS = {
    "name": lambda bad: {"name": bad},
    "keypoints.1": lambda bad: {"keypoints": ["a", bad]},
    "skeleton.0.1": lambda bad: {"skeleton": [["a", bad]]},
    "views.0": lambda bad: {"views": [bad]},
    "pca_keypoints.0": lambda bad: {"pca_keypoints": [bad]},
    "view_matches.0.0": lambda bad: {"view_matches": [[bad]]},
    "flip_pairs.0.1": lambda bad: {"flip_pairs": [["a", bad]]},
}
