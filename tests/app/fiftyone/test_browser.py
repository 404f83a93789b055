"""In a real browser (Playwright driving Debian's Chromium): a user signed in to posecloud opens the
saved view of one model's training split that posecloud links to, sees the grid filtered to that
split, opens a labeled frame and sees the ground truth and both models' keypoints on it; nothing the
App asks for is refused. Screenshots are kept in test-artifacts/fiftyone/."""

from __future__ import annotations

import re

from tests.app.fiftyone.conftest import Toy
from tests.app.fiftyone.test_datasets import model_predictions
from tests.app.labelstudio.test_browser import chromium  # noqa: F401 (the module's browser)
from tests.testdata import REPO

ARTIFACTS = REPO / "test-artifacts" / "fiftyone"


def test_a_user_compares_two_models_on_a_labeled_frame_and_filters_by_split(toy: Toy, chromium) -> None:  # noqa: F811
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with toy.client() as c:
        links = c.get(f"/projects/{toy.project}/fiftyone").json()
    frames = next(d for d in links["datasets"] if d["name"] == "labeled-frames")
    train_view = next(v["url"] for v in frames["views"] if v["name"] == "r18 train")
    in_train = model_predictions(toy, toy.models["r18"]).extra["set"].count("train")

    context = chromium.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    refused = []  # what the page asked for and did not get (a request the proxy should allow)
    page.on(
        "response",
        lambda r: r.status >= 400 and refused.append(f"{r.status} {r.request.method} {r.url}"),
    )
    signed_in = page.request.post(
        f"{toy.api.url}/auth/login", form={"username": "alice", "password": "correct horse"}
    )
    assert signed_in.ok  # the session cookie is now the browser's

    page.goto(toy.api.url + train_view)
    page.get_by_text(f"{in_train} samples").wait_for(timeout=120_000)  # the split, not all 90
    page.get_by_text("r18 train").first.wait_for()
    for field in ("ground_truth", "r18", "ens_seed0"):
        page.get_by_text(field, exact=True).first.wait_for()
    page.wait_for_timeout(3000)  # the thumbnails draw
    # FiftyOne's "Explore Enterprise" pop-up would cover the grid (its button in the header stays)
    assert not page.get_by_text("Dismiss").is_visible()
    page.screenshot(path=ARTIFACTS / "1-r18-train-split.png")

    page.locator("canvas").first.click()  # open a frame of the split
    sample = page.get_by_text("Sample", exact=True)
    sample.wait_for(timeout=30_000)
    page.wait_for_timeout(3000)
    page.screenshot(path=ARTIFACTS / "2-frame-with-both-models.png")
    text = page.inner_text("body")
    assert re.search(r"labeled-data/img\d+\.png", text), "the modal shows one labeled frame"
    for field in ("ground_truth", "r18", "ens_seed0"):  # each with its one skeleton of keypoints
        assert re.search(rf"\b{field}\s+1\b", text), field
    assert not [r for r in refused if "fonts.googleapis.com" not in r], refused
    context.close()
