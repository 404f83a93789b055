"""What the pages say of the project's state, and the service's refusals reworded for a page."""

from __future__ import annotations

import pytest

from app.client import ApiError
from app.ui.wording import labeling_progress, no_models_reason, worded


def test_labeled_frames_before_and_after_the_labeling_page_is_prepared() -> None:
    value, counted = labeling_progress({"labeled": 116, "frames": 0, "keypoints": {}})
    assert value == "116"  # not "116 / 0": there are no tasks to count against yet
    assert "not prepared yet" in counted and "Prepare the labeling page" in counted
    assert labeling_progress({"labeled": 1, "frames": 3, "keypoints": {}}) == (
        "1 / 3",
        "labeled frames / frames to label in Label Studio",
    )


def refuse(status: int, detail: str):
    def call(*args, **kwargs):
        raise ApiError(status, detail)

    return call


def test_refusals_are_reworded_by_status_and_others_keep_the_services_words() -> None:
    page_words = {409: "The labeling page is not prepared yet: press Prepare the labeling page first."}
    with pytest.raises(ApiError) as refused:
        worded(refuse(409, "project 3 has no labeling page yet; open it with POST labeling"), page_words)()
    assert (refused.value.status, refused.value.detail) == (409, page_words[409])
    with pytest.raises(ApiError) as refused:
        worded(refuse(401, "the bearer token has expired"), page_words)()
    assert refused.value.signed_out and refused.value.detail == "the bearer token has expired"
    assert worded(lambda a, b=0: a + b, page_words)(2, b=3) == 5


def test_why_the_compare_pages_models_box_is_empty() -> None:
    member = {"name": "tiny-seed0", "state": "succeeded", "ensemble_id": 1}
    assert (
        no_models_reason([member]) == "every trained model is an ensemble's member: choose its ensemble below"
    )
    assert no_models_reason([]) == "no trained models yet: train one on the Training page"
