"""What the front end makes of typed text and of the workers' progress reports (``JobProgress``)."""

from __future__ import annotations

import pytest

from app.ui.forms import names, pairs
from app.ui.jobs import fraction, progress_text
from app.ui.schema_form import _parse
from worker.state.progress import JobProgress


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


def _job(state: str, progress: JobProgress | None) -> dict:
    """A job as the service returns it (JSON), with a progress of the contract."""
    return {"state": state, "progress": progress and progress.model_dump(mode="json")}


def test_a_bar_shows_stage_done_total_unit_and_eta_of_the_contract() -> None:
    training = JobProgress(stage="training", done=11.5, total=300, unit="epochs", eta_s=185)
    assert fraction(_job("running", training)["progress"]) == pytest.approx(11.5 / 300)
    assert progress_text(_job("running", training)) == "▶️ running · training · 11.5/300 epochs · ETA 3m05s"
    ended = training.model_copy(update={"done": 300, "eta_s": 0})
    assert progress_text(_job("succeeded", ended)) == "✅ succeeded · training · 300/300 epochs"
    measuring = JobProgress(stage="transcoding", done=10, total=40, unit="frames")  # no ETA yet
    assert progress_text(_job("running", measuring)) == "▶️ running · transcoding · 10/40 frames"
    assert fraction(_job("running", measuring)["progress"]) == 0.25
    members = JobProgress(stage="training", done=1.25, total=2, unit="models", eta_s=42)
    assert progress_text(_job("running", members)) == "▶️ running · training · 1.2/2 models · ETA 42s"


def test_a_bar_without_a_total_or_a_report_is_empty() -> None:
    fetching = JobProgress(stage="fetching files", done=0, total=None, unit="files")
    assert fraction(_job("running", fetching)["progress"]) is None
    assert progress_text(_job("running", fetching)) == "▶️ running · fetching files · 0 files"
    assert fraction(None) is None and progress_text(_job("queued", None)) == "⏳ queued"
