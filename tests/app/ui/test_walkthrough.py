"""The front end in a real browser (Playwright driving Debian's Chromium) against the whole stack:
a scientist signs in, makes a project, uploads a video, picks frames and labels one in Label
Studio; then on the example project trains a 2-member ensemble while watching its progress and loss
curves, and cancels and retries a job. Each step asserts what the page shows. Screenshots are kept
in test-artifacts/ui/."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.app.ui.conftest import Stack
from tests.browser import choose, chromium_browser
from tests.labelstudio_page import label_first_task
from tests.testdata import REPO

expect = pytest.importorskip("playwright.sync_api").expect
ARTIFACTS = REPO / "test-artifacts" / "ui"
PASSWORD = "a long password"


@pytest.fixture(scope="module")
def page(stack: Stack):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium_browser() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        yield context.new_page()
        context.close()


def shot(page, name: str) -> None:
    page.wait_for_timeout(500)
    page.screenshot(path=ARTIFACTS / f"{name}.png")


def wait_until(check: Callable[[], object], timeout_s: float, what: str) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result is not None and result is not False:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def go(page, title: str) -> None:
    page.get_by_role("link", name=title, exact=True).click()
    page.get_by_role("heading", level=1, name=re.compile(rf"^{re.escape(title)}")).wait_for(timeout=30_000)


def fill(page, label: str, value: object) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Tab")  # a Streamlit widget takes its value when it loses focus


def job_card(page, title: str):
    """The bordered box of the job called ``title`` (the innermost block holding its heading)."""
    return page.locator("[data-testid=stVerticalBlock]").filter(has_text=f"{title} · job").last


def api_client(stack: Stack, page) -> httpx.Client:
    """The API as the browser's user (its session token as a bearer), to check what pages claim."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "posecloud_session")
    return httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def test_sign_in_project_video_frames_and_a_label_in_label_studio(stack: Stack, page, toy_clip) -> None:
    page.goto(f"{stack.url}/ui/videos")
    assert "/signin?next=%2Fui%2Fvideos" in page.url  # not signed in: to the sign-in page
    shot(page, "01-sign-in")
    page.fill("#username", "lab")
    page.fill("#password", PASSWORD)
    page.click("button[value=register]")
    page.get_by_text("Signed in as").wait_for(timeout=60_000)
    assert page.url.startswith(f"{stack.url}/ui/videos")  # back where the user wanted to go
    page.get_by_text("Choose a project in the sidebar").wait_for()

    go(page, "Projects")
    fill(page, "Name", "open-field")
    page.get_by_label("Keypoints", exact=True).fill("nose, tail")
    page.get_by_role("button", name="Create project").click()
    page.locator("[data-testid=stDataFrame]").wait_for(timeout=30_000)
    shot(page, "02-projects")
    with api_client(stack, page) as api:
        (project,) = api.get("/projects").json()
    assert project["name"] == "open-field" and project["keypoints"] == ["nose", "tail"]
    expect(page.get_by_role("combobox", name="Project")).to_have_value(f"open-field (#{project['id']})")

    go(page, "Videos")
    page.get_by_text("Uploaded videos are listed here").wait_for()
    page.set_input_files("#pc-files", str(toy_clip))
    page.click("#pc-upload")
    page.get_by_text("uploaded", exact=True).wait_for(timeout=60_000)
    table = page.locator("[data-testid=stDataFrame]")
    table.wait_for(timeout=30_000)
    page.get_by_text("clip.mp4").first.wait_for()
    with api_client(stack, page) as api:
        (video,) = api.get(f"/projects/{project['id']}/videos").json()
    assert video["filename"] == "clip.mp4" and video["frames"] == 40
    player = page.locator("video")
    player.wait_for()
    wait_until(lambda: player.evaluate("v => v.readyState >= 1 && v.duration > 0"), 30, "the preview to load")
    shot(page, "03-videos")

    go(page, "Frames and labels")
    fill(page, "Frames per video", 3)
    page.get_by_role("button", name="Pick frames").click()
    page.get_by_text(re.compile(r"Picking 3 frames from clip\.mp4")).wait_for(timeout=30_000)
    page.get_by_text(re.compile(r"frame extraction · job \d+ · ✅ succeeded")).wait_for(timeout=120_000)
    page.get_by_role("button", name="Prepare the labeling page").click()
    page.get_by_text(re.compile(r"3 new tasks")).wait_for(timeout=60_000)
    page.get_by_text(re.compile(r"Frames labeled\s*0 / 3")).wait_for(timeout=30_000)
    shot(page, "04-frames")
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="Open Label Studio ↗").click()
    labeling = opened.value
    labeling.wait_for_load_state("networkidle")
    shot(labeling, "05-label-studio")
    label_first_task(labeling, {"nose": (0.3, 0.4), "tail": (0.6, 0.7)}, ARTIFACTS, "06")

    def labeled() -> pd.DataFrame | None:
        with api_client(stack, page) as api:
            raw = api.get(f"/projects/{project['id']}/labels").content
        table = pd.read_csv(io.BytesIO(raw), header=[0, 1, 2], index_col=0)
        done = table[np.isfinite(table.to_numpy(float)).all(axis=1)]
        return done if len(done) == 1 else None

    row = wait_until(labeled, 30, "the label file to hold the clicked frame").iloc[0].to_numpy(float)
    assert row == pytest.approx([0.3 * 396 - 0.5, 0.4 * 406 - 0.5, 0.6 * 396 - 0.5, 0.7 * 406 - 0.5], abs=3)
    labeling.close()
    page.get_by_text(re.compile(r"Frames labeled\s*1 / 3")).wait_for(timeout=30_000)  # live, no reload
    shot(page, "07-labeled")
    page.reload()  # label QC checks the labeled frame (too few frames to compare: it says so)
    page.get_by_text("0 of 1 labeled frames to review; 0 reviewed and kept as labeled").wait_for(
        timeout=60_000
    )
    page.get_by_text(
        re.compile(r"Not checked: .*label more frames|Not checked: .*fewer than 10")
    ).first.wait_for()


def signed_in(stack: Stack, page) -> None:
    """The first test signs in through the page; run alone, a test signs in here."""
    if any(c["name"] == "posecloud_session" for c in page.context.cookies()):
        return
    form = {"username": "lab", "password": PASSWORD}
    if (
        page.request.post(f"{stack.url}/signin", form={**form, "action": "register"}, max_redirects=0).status
        != 303
    ):
        page.request.post(f"{stack.url}/signin", form=form, max_redirects=0)
    page.goto(f"{stack.url}/ui/")
    page.get_by_text("Signed in as").wait_for(timeout=60_000)


def test_train_an_ensemble_watch_it_and_cancel_and_retry_a_job(stack: Stack, page) -> None:
    signed_in(stack, page)
    go(page, "Projects")
    page.get_by_role("tab", name="From the example").click()
    page.get_by_role("button", name="Create the example project").click()
    expect(page.get_by_role("combobox", name="Project")).to_have_value(
        re.compile("^mirror-mouse"), timeout=240_000
    )

    go(page, "Training")
    fill(page, "Name", "tiny")
    fill(page, "Ensemble seeds", "0, 1")
    choose(page, "Backbone", "resnet18")
    fill(page, "Pretrained", "none")
    for label, value in {"Epochs": 3, "Image Height": 64, "Image Width": 64, "Batch Size": 8}.items():
        fill(page, label, value)
    page.get_by_text("More settings").click()
    for label, value in {"Freeze Backbone Epochs": 0, "Val Every N Epochs": 1, "Lr Milestones": "2"}.items():
        fill(page, label, value)
    shot(page, "08-training-form")
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Training ensemble 'tiny' (2 members) started.").wait_for(timeout=30_000)
    card = job_card(page, "tiny")
    member_bar = r"member 1 \(job \d+\): ▶️ running · training · [\d.]+/3 epochs · ETA \d"
    card.get_by_text(re.compile(member_bar)).wait_for(timeout=900_000)
    card.get_by_text(re.compile(r"tiny · job \d+ · ▶️ running · .+ · [\d.]+/2 models")).wait_for(
        timeout=60_000
    )
    card.scroll_into_view_if_needed()
    shot(page, "09-training-running")
    card.get_by_text(re.compile(r"tiny · job \d+ · ✅ succeeded")).wait_for(timeout=900_000)
    # a loss curve per member (waited for: the live card's previous run may still be on screen)
    expect(card.locator(".js-plotly-plot")).to_have_count(2, timeout=30_000)
    assert "losses, job" in card.inner_text()
    card.scroll_into_view_if_needed()
    shot(page, "10-training-done")
    with api_client(stack, page) as api:
        (example,) = [p for p in api.get("/projects").json() if p["name"] == "mirror-mouse"]
        (trained,) = api.get(f"/projects/{example['id']}/ensembles").json()
    assert trained["name"] == "tiny" and trained["state"] == "succeeded" and len(trained["members"]) == 2
    members = trained_job_members(stack, page, example["id"], trained)
    assert all(m["progress"]["done"] == m["progress"]["total"] == 3 for m in members)

    # a long single model: cancel it, see it cancelled, retry it, see it run again
    fill(page, "Name", "long")
    fill(page, "Ensemble seeds", "7")
    fill(page, "Epochs", 300)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Training 'long' started.").wait_for(timeout=30_000)
    long_card = job_card(page, "long")
    long_card.get_by_text(re.compile(r"▶️ running")).first.wait_for(timeout=120_000)
    long_card.get_by_role("button", name="Cancel").click()
    long_card.get_by_text(re.compile(r"long · job \d+ · ⏹️ cancelled")).wait_for(timeout=120_000)
    long_card.scroll_into_view_if_needed()
    shot(page, "11-cancelled")
    long_card.get_by_role("button", name="Retry").click()
    long_card.get_by_text(re.compile(r"long · job \d+ · (⏳ queued|▶️ running)")).wait_for(timeout=60_000)
    long_card.scroll_into_view_if_needed()
    shot(page, "12-retried")
    long_card.get_by_role("button", name="Cancel").click()  # free the worker for the next module
    long_card.get_by_text(re.compile(r"⏹️ cancelled")).first.wait_for(timeout=120_000)


def trained_job_members(stack: Stack, page, project_id: int, ensemble: dict) -> list[dict]:
    with api_client(stack, page) as api:
        return api.get(f"/projects/{project_id}/jobs/{ensemble['train_job_id']}").json()["members"]


def test_an_ended_session_returns_to_sign_in_and_back_to_the_same_page(stack: Stack, page) -> None:
    signed_in(stack, page)
    with api_client(stack, page) as api:  # a project that is not the first: the way back must name it
        if not api.get("/projects").json():  # run alone
            api.post("/projects", json={"name": "first", "keypoints": ["nose"]}).raise_for_status()
        api.post("/projects", json={"name": "second", "keypoints": ["nose"]}).raise_for_status()
        second = max(p["id"] for p in api.get("/projects").json())
    page.goto(f"{stack.url}/ui/training?project={second}")
    page.get_by_role("heading", level=1, name="Training · second").wait_for(timeout=60_000)
    here = page.url.removeprefix(stack.url)
    assert here == f"/ui/training?project={second}"
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "posecloud_session")
    httpx.get(f"{stack.url}/signout", cookies={"posecloud_session": token})  # the session ends elsewhere
    try:
        page.wait_for_url(re.compile(r"/signin\?expired=1"), timeout=30_000)  # the live part noticed
    finally:
        shot(page, "13-session-ending")
    page.get_by_text("Your session has ended").wait_for()
    shot(page, "13-session-ended")
    page.fill("#username", "lab")
    page.fill("#password", PASSWORD)
    page.click("button[value=signin]")
    page.get_by_role("heading", level=1, name="Training · second").wait_for(timeout=60_000)
    assert page.url.removeprefix(stack.url) == here
