"""What the front end makes of typed text and of the workers' progress reports."""

from __future__ import annotations

import pytest

from app.ui.forms import names, pairs
from app.ui.jobs import fraction, progress_text
from app.ui.schema_form import _parse


def test_names_and_pairs_as_people_type_them() -> None:
    assert names("nose, left_ear\n tail  base") == ["nose", "left_ear", "tail", "base"]
    assert pairs("nose-tail\nnose, ear\n\near tail") == [["nose", "tail"], ["nose", "ear"], ["ear", "tail"]]
    assert pairs("nose-left-ear") == [["nose", "left", "ear"]]  # not two names: the service says so


@pytest.mark.parametrize(
    ("text", "spec", "nullable", "value"),
    [
        ("", {"type": "number"}, True, None),
        ("12.5", {"type": "number"}, True, 12.5),
        ("1, 2", {"type": "array", "items": {"type": "integer"}}, False, [1, 2]),
        ("[150, 200]", {"type": "array", "items": {"type": "integer"}}, False, [150, 200]),
        ('{"temporal": 0.5}', {"type": "object"}, False, {"temporal": 0.5}),
        ("{oops", {"type": "object"}, False, "{oops"),  # left for the service's validation to explain
        ("", {"type": "array"}, False, []),
        ("abc", {"type": "integer"}, True, "abc"),
    ],
)
def test_free_text_settings_become_the_schemas_types(text, spec, nullable, value) -> None:
    assert _parse(text, spec, nullable) == value


def test_progress_of_each_kind_of_work() -> None:
    assert fraction({"epoch": 2, "epochs": 4, "step": 30, "total_steps": 120}) == 0.25
    assert fraction({"step": "transcoding", "frames": 50, "total_frames": 200}) == 0.25
    assert fraction({"done": 3, "total": 4}) == 0.75
    assert fraction({}) is None and fraction({"frames": 3, "total_frames": 0}) is None
    job = {"state": "succeeded", "progress": {"epoch": 4, "epochs": 4, "step": 120, "total_steps": 120}}
    assert progress_text(job) == "✅ succeeded · epoch 4/4 · 100%"
    job = {
        "state": "running",
        "progress": {"step": "transcoding", "frames": 10, "total_frames": 40},
        "started_at": None,
    }
    assert progress_text(job) == "▶️ running · transcoding · 25%"
