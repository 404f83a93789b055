"""Roles in the browser: the owner gives a member the labeler role on the Members tab; the labeler
sees only the pages a labeler can use, and the Frames and labels page says who picks the frames
instead of showing refusals. Screenshots in test-artifacts/ui/."""

from __future__ import annotations

import pytest

from tests.app.ui.conftest import Stack, api_client, registered
from tests.app.ui.test_walkthrough import ARTIFACTS, go, shot
from tests.browser import choose, chromium_browser

expect = pytest.importorskip("playwright.sync_api").expect


def test_the_owner_makes_a_labeler_who_sees_only_the_labeling_pages(stack: Stack) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium_browser() as browser:
        owner_context = browser.new_context(viewport={"width": 1400, "height": 1000})
        labeler_context = browser.new_context(viewport={"width": 1400, "height": 1000})
        owner, token = registered(stack, owner_context, "olga")
        labeler, _ = registered(stack, labeler_context, "lena")
        with api_client(stack, token) as api:
            project = api.post("/projects", json={"name": "arena", "keypoints": ["nose", "tail"]}).json()

        owner.goto(f"{stack.url}/ui/?project={project['id']}")
        owner.get_by_text("Signed in as").wait_for(timeout=60_000)
        owner.get_by_role("tab", name="Members").click()
        owner.get_by_label("Member (username)").fill("lena")
        choose(owner, "Role", "labeler")
        owner.get_by_role("button", name="Add").click()
        owner.get_by_text("lena can now open 'arena' as labeler.").wait_for(timeout=30_000)
        shot(owner, "roles-1-members")

        labeler.goto(f"{stack.url}/ui/?project={project['id']}")
        labeler.get_by_text("Signed in as").wait_for(timeout=60_000)
        nav = labeler.locator("[data-testid=stSidebarNav]")
        expect(nav.get_by_role("link", name="Frames and labels")).to_be_visible(timeout=30_000)
        for hidden in ("Videos", "Training", "Models", "Prediction", "Compare in FiftyOne"):
            expect(nav.get_by_role("link", name=hidden, exact=True)).to_have_count(0)
        go(labeler, "Frames and labels")
        labeler.get_by_text("The project's trainers and owner pick the frames").wait_for(timeout=30_000)
        expect(labeler.get_by_text("your role in project")).to_have_count(0)  # no refusals on the page
        shot(labeler, "roles-2-labeler-frames")
        owner_context.close()
        labeler_context.close()
