"""The label versions on the Frames and labels page: listed, and one restored with the Restore
button once the confirmation is ticked (the label file back byte for byte, as a new version).
Screenshot in test-artifacts/ui/."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import yaml

from tests.app.ui.conftest import Stack, api_client, registered
from tests.app.ui.test_walkthrough import ARTIFACTS, go, shot
from tests.browser import chromium_browser
from tests.testdata import EXAMPLE_PROJECT, TOY

expect = pytest.importorskip("playwright.sync_api").expect


def _project_with_two_versions(api: httpx.Client, labels_zip: Path) -> int:
    """The toy project: its labels (version 1), then one value changed (version 2)."""
    config = yaml.safe_load(EXAMPLE_PROJECT.read_text())
    project = api.post("/projects", json={k: config[k] for k in ("name", "keypoints", "skeleton")}).json()[
        "id"
    ]
    changed = (TOY / "CollectedData.csv").read_text().splitlines()
    cells = changed[3].split(",")
    cells[1] = str(float(cells[1]) + 5)
    changed[3] = ",".join(cells)
    for filename, content in (
        ("toy.zip", labels_zip.read_bytes()),
        ("moved.csv", "\n".join(changed).encode()),
    ):
        resp = api.put(f"/projects/{project}/labels", params={"filename": filename}, content=content)
        assert resp.status_code == 200, resp.text
    return project


def test_a_version_is_restored_from_the_frames_and_labels_page(stack: Stack, toy_labels_zip: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium_browser() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page, token = registered(stack, context, "vera")
        with api_client(stack, token) as api:
            project = _project_with_two_versions(api, toy_labels_zip)
            first = api.get(f"/projects/{project}/labels/versions/1").content

            page.goto(f"{stack.url}/ui/?project={project}")
            page.get_by_text("Signed in as").wait_for(timeout=60_000)
            go(page, "Frames and labels")
            page.get_by_role("heading", name="Label versions").wait_for(timeout=30_000)
            page.get_by_role("button", name="Restore").click()
            page.get_by_text("Tick the box to confirm.").wait_for(timeout=30_000)
            assert len(api.get(f"/projects/{project}/labels/versions").json()) == 2  # nothing restored
            page.get_by_text(re.compile("^Replace the current labels")).click()
            page.get_by_role("button", name="Restore").click()
            page.get_by_text("Version 1's labels are the project's again, as version 3.").wait_for(
                timeout=30_000
            )
            shot(page, "label-versions-restored")
            assert api.get(f"/projects/{project}/labels").content == first
            newest = api.get(f"/projects/{project}/labels/versions").json()[0]
            assert (newest["number"], newest["source"], newest["user"]) == (3, "restore of version 1", "vera")
        context.close()
