"""The front end's "Compare in FiftyOne" page in Chromium: it lists the project's comparison with
the links posecloud gives, opens it in FiftyOne through posecloud, and builds a new comparison of
the models the user picks."""

from __future__ import annotations

import re

from tests.app.fiftyone.conftest import Toy, wait_job
from tests.app.labelstudio.test_browser import chromium  # noqa: F401 (the module's browser)
from tests.browser import choose
from tests.testdata import REPO

ARTIFACTS = REPO / "test-artifacts" / "fiftyone"


def test_the_compare_page_opens_the_comparison_and_builds_a_new_one(toy: Toy, chromium) -> None:  # noqa: F811
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with toy.client() as c:
        links = c.get(f"/projects/{toy.project}/fiftyone").json()
    page = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    assert page.request.post(
        f"{toy.api.url}/auth/login", form={"username": "alice", "password": "correct horse"}
    ).ok
    page.goto(f"{toy.api.url}/ui/compare?project={toy.project}")
    page.get_by_role("heading", level=1, name=re.compile("^Compare in FiftyOne")).wait_for(timeout=60_000)
    opener = page.get_by_role("link", name="Open labeled-frames in FiftyOne ↗")
    opener.wait_for(timeout=60_000)
    frames = next(d for d in links["datasets"] if d["name"] == "labeled-frames")
    assert opener.get_attribute("href") == frames["url"]
    for view in frames["views"][:3]:  # the saved views, as links
        assert page.get_by_role("link", name=view["name"], exact=True).get_attribute("href") == view["url"]
    page.screenshot(path=ARTIFACTS / "compare-page.png")

    with page.context.expect_page() as opened:
        opener.click()
    fiftyone = opened.value
    fiftyone.wait_for_load_state()
    assert f"/fiftyone/{toy.project}/" in fiftyone.url
    fiftyone.get_by_text("samples").first.wait_for(timeout=120_000)  # the App drew the dataset
    fiftyone.close()

    # the same choice as the session's comparison, which the dataset tests read
    picks = {
        "Models": ["r18"],
        "Ensembles (every member)": ["ens"],
        "Predicted videos": [
            f"job {toy.predict_job['id']}: clip.mp4 by model",
            f"job {toy.smooth_job['id']}: clip.mp4 by ensemble (EKS)",
        ],
    }
    for label, options in picks.items():
        for option in options:
            choose(page, label, option)
            page.keyboard.press("Escape")
    page.get_by_role("button", name="Build the comparison").click()
    started = page.get_by_text(re.compile(r"Building the comparison \(job (\d+)\)"))
    started.wait_for(timeout=60_000)
    job_id = int(re.search(r"job (\d+)", started.inner_text()).group(1))
    with toy.client() as c:
        job = wait_job(c, toy.project, job_id)
    assert job["state"] == "succeeded"
    assert job["params"] == toy.build_job["params"]
    page.get_by_text(re.compile(rf"comparison · job {job_id} · ✅ succeeded")).wait_for(timeout=60_000)
