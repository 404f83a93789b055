"""The results pages in a real browser (Playwright driving Debian's Chromium) against the whole stack:
a tiny 2-member ensemble trained and a short clip predicted through the API, then Models (names,
states and the pixel errors the API reports; a rename), Prediction (the labeled video plays, the
traces name the keypoints, the CSV downloaded is the job's) and Diagnostics (its plots name the
keypoints and models). Screenshots are kept in test-artifacts/ui/."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.app.ui.conftest import Stack
from tests.browser import choose, chromium_browser
from tests.testdata import EXAMPLE_PROJECT, REPO, TINY

ARTIFACTS = REPO / "test-artifacts" / "ui"
USER, PASSWORD = "results", "a long password"
TIMEOUT_MS = 120_000  # the test machine's cores are shared


def _wait(api: httpx.Client, path: str, timeout_s: float = 900) -> dict:
    """GET ``path`` until its state is final; it must have succeeded."""
    deadline = time.monotonic() + timeout_s
    while (body := api.get(path).json())["state"] not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"{path} still {body['state']}"
        time.sleep(1)
    assert body["state"] == "succeeded", body
    return body


@pytest.fixture(scope="module")
def predicted(stack: Stack, toy_labels_zip, toy_clip) -> dict:
    """The toy project with a trained 2-member ensemble and its prediction of the clip."""
    with httpx.Client(base_url=stack.url) as web:
        signed_up = web.post("/signin", data={"username": USER, "password": PASSWORD, "action": "register"})
        assert signed_up.status_code == 303, signed_up.text
    token = httpx.post(f"{stack.url}/auth/login", data={"username": USER, "password": PASSWORD}).json()
    api = stack.api.client(token["access_token"])
    config = yaml.safe_load(EXAMPLE_PROJECT.read_text())
    project = api.post("/projects", json={k: config[k] for k in ("name", "keypoints", "skeleton")}).json()
    p = f"/projects/{project['id']}"
    assert api.put(
        f"{p}/labels", params={"filename": "toy.zip"}, content=toy_labels_zip.read_bytes()
    ).is_success
    video = api.post(f"{p}/videos", params={"filename": "clip.mp4"}, content=toy_clip.read_bytes()).json()
    body = {"name": "tiny", "train": {**TINY, "epochs": 1}, "seeds": [0, 1]}
    ensemble = api.post(f"{p}/ensembles", json=body).json()
    ensemble = _wait(api, f"{p}/ensembles/{ensemble['id']}")
    job = api.post(f"{p}/predictions", json={"video_id": video["id"], "ensemble_id": ensemble["id"]}).json()
    job = _wait(api, f"{p}/jobs/{job['id']}")
    return {"api": api, "project": project, "ensemble": ensemble, "job": job}


def _shot(page, name: str, at=None) -> None:
    """The window, scrolled to ``at`` (a locator) when given (Streamlit scrolls inside the page)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if at is not None:
        at.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # plots finish drawing
    page.screenshot(path=ARTIFACTS / f"results-{name}.png")


def _open(page, url: str, path: str, heading: str) -> None:
    page.goto(f"{url}{path}")
    page.get_by_role("heading", name=re.compile(rf"^{re.escape(heading)} · ")).wait_for(timeout=TIMEOUT_MS)


def _texts(locator) -> str:
    """The SVG text of ``locator``'s elements (a plot's legend, its ticks)."""
    return " ".join(locator.evaluate_all("nodes => nodes.map(n => n.textContent)"))


def _legend(page) -> str:
    return _texts(page.locator(".js-plotly-plot .legendtext"))


def test_models_prediction_and_diagnostics_pages(stack: Stack, predicted: dict) -> None:
    with chromium_browser() as browser:
        page = browser.new_context(viewport={"width": 1400, "height": 1600}, accept_downloads=True).new_page()
        try:
            check_pages(page, stack.url, **predicted)
        except BaseException:
            _shot(page, "failure")
            raise


def check_pages(page, url: str, api: httpx.Client, project: dict, ensemble: dict, job: dict) -> None:
    page.goto(f"{url}/ui/models?project={project['id']}")
    page.fill("#username", USER)
    page.fill("#password", PASSWORD)
    page.click("button[value=signin]")
    check_models(page, api, project, ensemble)
    check_prediction(page, url, api, project, job)
    check_diagnostics(page, url, project, ensemble)


def check_models(page, api: httpx.Client, project: dict, ensemble: dict) -> None:
    page.get_by_role("heading", name=re.compile(r"^Models · ")).wait_for(timeout=TIMEOUT_MS)
    models_table = page.locator("[data-testid=stTable]").filter(has_text="test px error")
    for member in ensemble["members"]:
        row = models_table.locator("tr").filter(has_text=member["name"])
        row.wait_for(timeout=TIMEOUT_MS)
        cells = row.locator("td").all_inner_texts()
        errors = member["summary"]["pixel_error"]
        assert cells[:3] == [member["name"], "tiny", "✅ succeeded"]
        assert cells[3:6] == [f"{errors[split]['mean']:.2f}" for split in ("test", "validation", "train")]
        assert cells[6:] == ["version 1", "scratch"]  # the labels it trained on, from scratch
    ensembles_table = page.locator("[data-testid=stTable]").filter(has_text="members")
    assert "✅ succeeded" in ensembles_table.inner_text()
    _shot(page, "models")
    rename = page.locator("[data-testid=stForm]").filter(has_text="New name")
    rename.get_by_label("New name", exact=True).fill("tiny-renamed")
    rename.get_by_role("button", name="Rename").click()
    page.get_by_text("ensemble tiny is now 'tiny-renamed'.").wait_for(timeout=TIMEOUT_MS)
    assert api.get(f"/projects/{project['id']}/ensembles/{ensemble['id']}").json()["name"] == "tiny-renamed"
    ensembles_table.filter(has_text="tiny-renamed").wait_for()


def check_prediction(page, url: str, api: httpx.Client, project: dict, job: dict) -> None:
    _open(page, url, f"/ui/prediction?project={project['id']}", "Prediction")
    _played(page)
    page.wait_for_function(
        "() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=TIMEOUT_MS
    )  # the traces and the frame
    legend = _legend(page)
    assert all(k in legend for k in project["keypoints"]), legend  # the traces' and the frame's
    _shot(page, "prediction")
    _shot(page, "prediction-traces", page.locator(".js-plotly-plot").first)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download clip.eks.csv").click()
    artifact = api.get(f"/projects/{project['id']}/jobs/{job['id']}/artifacts/clip.eks.csv").content
    assert Path(download.value.path()).read_bytes() == artifact

    # one member alone, launched here: the job is watched live until its results show
    choose(page, "Model or ensemble", "model tiny-seed0")
    page.get_by_role("button", name="Predict").click()
    page.get_by_text(re.compile(r"with model tiny-seed0 · job \d+ · ")).wait_for(timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Download clip.csv").wait_for(timeout=4 * TIMEOUT_MS)  # no reload
    _played(page)


def _played(page) -> None:
    """The page's video loaded and shows the clip's frames."""
    page.wait_for_function(
        "() => { const v = document.querySelector('video'); return v && v.readyState >= 2 && v.duration > 0; }",
        timeout=TIMEOUT_MS,
    )
    player = page.locator("video")
    assert player.evaluate("v => v.error") is None
    assert player.evaluate("v => v.videoWidth") == 396


def check_diagnostics(page, url: str, project: dict, ensemble: dict) -> None:
    _open(page, url, f"/ui/diagnostics?project={project['id']}", "Diagnostics")
    page.wait_for_function(
        "() => document.querySelectorAll('.js-plotly-plot').length >= 5", timeout=TIMEOUT_MS
    )  # error boxes, two models, confidence, the video's metrics, the EKS against its members
    legend = _legend(page)
    for name in [m["name"] for m in ensemble["members"]] + ["tiny-renamed (EKS)"]:
        assert name in legend, (name, legend)
    ticks = _texts(page.locator(".js-plotly-plot").first.locator(".xtick text"))
    assert all(k in ticks for k in project["keypoints"]), ticks
    _shot(page, "diagnostics")
    _shot(page, "diagnostics-video", page.locator(".js-plotly-plot").nth(3))
