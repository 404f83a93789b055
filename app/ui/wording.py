"""What the pages say about the project's state, in the pages' own words: the service's refusals
name API requests ("POST fiftyone/build"), which a page rewords as the buttons that do the same."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from app.client import ApiError

T = TypeVar("T")


def worded(call: Callable[..., T], instead: Mapping[int, str]) -> Callable[..., T]:
    """``call``, its refusals with a status in ``instead`` reworded for the page (other refusals
    keep the service's words; the status is kept, so a 401 still signs the user out)."""

    def reworded(*args: Any, **kwargs: Any) -> T:
        try:
            return call(*args, **kwargs)
        except ApiError as e:
            if e.status not in instead:
                raise
            raise ApiError(e.status, instead[e.status]) from None

    return reworded


def labeling_progress(progress: dict) -> tuple[str, str]:
    """The labeling metric's value and what it counts, from the service's labeling progress
    (``frames``: Label Studio's tasks, none before the labeling page is prepared; ``labeled``: the
    frames with a label in the label file)."""
    labeled, tasks = progress["labeled"], progress["frames"]
    if not tasks:
        return f"{labeled}", (
            "labeled frames in the label file; the labeling page is not prepared yet "
            "(Prepare the labeling page makes a task of every picked or labeled frame)"
        )
    return f"{labeled} / {tasks}", "labeled frames / frames to label in Label Studio"


def no_models_reason(trained: list[dict]) -> str:
    """Why the compare page's Models box offers nothing, given the project's trained models (its
    ensembles' members are chosen with their ensemble)."""
    if trained:
        return "every trained model is an ensemble's member: choose its ensemble below"
    return "no trained models yet: train one on the Training page"
