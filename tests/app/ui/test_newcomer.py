"""A newcomer's first project, in a real browser against the whole stack: a DeepLabCut project of
their own, zipped as they would zip it, becomes a posecloud project with the keypoints of its
config.yaml; Label Studio's project page and task list open with the imported labels (for a second
member of the project too); a frame chosen in the app opens in Label Studio, wholly visible; and the
labels come back exact. Any refused request, console error or blank page fails it. Screenshots are
kept in test-artifacts/newcomer/."""

from __future__ import annotations

import io
import re

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.app.ui.conftest import Stack
from tests.browser import choose, chromium_browser
from tests.testdata import DLC_REACHING, REPO

ARTIFACTS = REPO / "test-artifacts" / "newcomer"
PASSWORD = "a long password"
KEYPOINTS = ["Hand", "Finger1", "Tongue", "Joystick1", "Joystick2"]
ROWS = ".dm-table__row-wrapper, [class*='table-row'], [class*='Table_row']"


class Watched:
    """A browser page whose refused requests and console errors are noted in ``problems``."""

    def __init__(self, page, name: str, problems: list[str] | None = None) -> None:
        self.page, self.name, self.problems = page, name, [] if problems is None else problems
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(f"{r.status} {r.url}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed {r.url} ({r.failure})"))
        self.page.on(
            "console",
            lambda m: m.type == "error" and "fetching the script" not in m.text  # LS's service worker
            and self.problems.append(f"console: {m.text[:300]} at {m.location.get('url')}"),
        )  # fmt: skip

    def shot(self, step: str) -> None:
        self.page.wait_for_timeout(800)
        self.page.screenshot(path=ARTIFACTS / f"{self.name}-{step}.png")

    def clean(self) -> None:
        (ARTIFACTS / f"{self.name}-problems.txt").write_text("\n".join(self.problems))
        assert not self.problems, self.problems


def sign_in(page, url: str, username: str, register: bool) -> None:
    page.goto(f"{url}/ui/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click(f"button[value={'register' if register else 'signin'}]")
    page.get_by_text("Signed in as").wait_for(timeout=60_000)


VIEWPORT = {"width": 1400, "height": 1000}


def bearer(url: str, page) -> httpx.Client:
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "posecloud_session")
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def open_task_list(watched: Watched, url: str) -> None:
    """Label Studio's project page: its task list drawn, one row per labeled frame, not blank."""
    page = watched.page
    if page.url != url:
        page.goto(url)
    page.locator(ROWS).first.wait_for(timeout=60_000)
    page.wait_for_load_state("networkidle")
    assert page.locator(ROWS).count() >= 20, "the task list shows fewer rows than the project's frames"
    assert "Failed to resolve" not in page.content()


def test_a_zipped_deeplabcut_project_through_every_page(stack: Stack, dlc_project_zip) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium_browser() as browser:
        owner = Watched(browser.new_context(viewport=VIEWPORT).new_page(), "owner")
        page = owner.page
        sign_in(page, stack.url, "newcomer", register=True)
        page.get_by_role("link", name="Projects", exact=True).click()
        page.get_by_role("heading", level=1, name="Projects").wait_for()
        # a new project from the zip alone: no name, no keypoints typed
        page.locator("input[type=file]").first.set_input_files(str(dlc_project_zip))
        page.get_by_text(re.compile(r"1[78]\.\dMB")).wait_for(timeout=60_000)  # the chosen file, uploaded
        owner.shot("0-chosen")
        page.get_by_role("button", name="Create project").click()
        page.get_by_text(re.compile(r"is ready with 5 keypoints .* and 55 labeled frames")).wait_for(
            timeout=120_000
        )
        owner.shot("1-created")
        with bearer(stack.url, page) as api:
            (project,) = api.get("/projects").json()
            assert project["keypoints"] == KEYPOINTS and project["name"] == "Reaching-Mackenzie"
            with httpx.Client(base_url=stack.url, timeout=60) as other:  # a second member of the project
                other.post("/auth/register", json={"username": "colleague", "password": PASSWORD})
            assert (
                api.post(f"/projects/{project['id']}/members", json={"username": "colleague"}).status_code
                == 201
            )

        page.get_by_role("link", name="Frames and labels", exact=True).click()
        page.get_by_role("button", name="Prepare the labeling page").click()
        page.get_by_text(re.compile(r"55 new tasks")).wait_for(timeout=120_000)
        owner.shot("2-frames")
        with page.context.expect_page() as opened:
            page.get_by_role("link", name="Open Label Studio ↗").click()
        labeling = Watched(opened.value, "owner-ls", owner.problems)
        open_task_list(labeling, labeling.page.url)
        labeling.shot("3-task-list")
        owner.clean()

        # a frame chosen in the app, opened in Label Studio: the frame whole, its labels on it
        page.bring_to_front()
        choose(page, "Frame", "labeled-data/reachingvideo1/img005.png")
        with page.context.expect_page() as opened:
            page.get_by_role("link", name="Open this frame in Label Studio ↗").click()
        frame = opened.value
        Watched(frame, "owner-frame", owner.problems)
        frame.locator("canvas").first.wait_for(timeout=60_000)
        frame.wait_for_timeout(2000)
        assert "?task=" in frame.url
        frame.screenshot(path=ARTIFACTS / "owner-4-frame.png")
        boxes = [b for c in frame.locator("canvas").all() if (b := c.bounding_box())]
        image = max(boxes, key=lambda b: b["width"] * b["height"])
        submit_bar = frame.get_by_text(re.compile(r"^(Update|Submit)$")).first.bounding_box()
        regions = frame.get_by_text("Regions", exact=True).first.bounding_box()
        assert image["y"] >= 0 and image["x"] >= 0, image  # nothing cut at the top or left
        assert image["y"] + image["height"] <= submit_bar["y"], (image, submit_bar)  # nor at the bottom
        assert image["x"] + image["width"] <= regions["x"], (image, regions)  # nor under the side panel
        regions_listed = frame.locator("text=Joystick1").count()
        assert regions_listed >= 1, "the frame's imported keypoints are not on it"
        owner.clean()

        # the second member sees the same project page and task list
        member = Watched(browser.new_context(viewport=VIEWPORT).new_page(), "member")
        sign_in(member.page, stack.url, "colleague", register=False)
        with bearer(stack.url, member.page) as api:
            opened_page = api.get(f"/projects/{project['id']}/labeling/tasks").json()["url"]
        open_task_list(member, stack.url + opened_page)
        member.shot("5-task-list")
        member.clean()

        # signing out happens in this tab, and what was open asks for a sign-in, not raw JSON
        pages_before = len(page.context.pages)
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(re.compile(r"/signin"), timeout=30_000)
        assert len(page.context.pages) == pages_before
        frame.goto(frame.url)
        assert "/signin?next=" in frame.url and frame.locator("#username").is_visible()
        owner.shot("6-signed-out")

    # the labels came back exact: the label file holds the DeepLabCut labels
    with httpx.Client(base_url=stack.url, timeout=60) as c:  # signed out above: sign in again
        login = c.post("/auth/login", data={"username": "newcomer", "password": PASSWORD}).json()
        c.headers["Authorization"] = f"Bearer {login['access_token']}"
        assert c.post(f"/projects/{project['id']}/labeling/sync").status_code == 200
        ours = pd.read_csv(
            io.BytesIO(c.get(f"/projects/{project['id']}/labels").content), header=[0, 1, 2], index_col=0
        )
    theirs = pd.read_csv(DLC_REACHING / "labeled-data/reachingvideo1/CollectedData_Mackenzie.csv",
                         header=[0, 1, 2], index_col=0)  # fmt: skip
    ours = ours.loc[theirs.index]
    assert np.allclose(ours.to_numpy(float), theirs.to_numpy(float), atol=0.25, equal_nan=True)
    assert np.isfinite(ours.to_numpy(float)).sum() == pytest.approx(np.isfinite(theirs.to_numpy(float)).sum())
