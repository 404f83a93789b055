"""In a real browser (Playwright driving Debian's Chromium): a user signs in to posecloud, opens
the project's labeling page, clicks keypoints on a frame, submits, and the label file holds those
points. Screenshots are kept in test-artifacts/labelstudio/."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pytest

from tests.app.labelstudio.conftest import Api
from tests.app.labelstudio.test_labeling import _open, _point, _wait
from tests.browser import chromium_browser
from tests.labelstudio_page import label_first_task
from tests.testdata import REPO, TOY

ARTIFACTS = REPO / "test-artifacts" / "labelstudio"


@pytest.fixture(scope="module")
def chromium():
    with chromium_browser() as browser:
        yield browser


def _one_unlabeled_frame(image: str) -> bytes:
    """A label upload: one toy frame with both keypoints absent (so its task has no annotation)."""
    csv = f"scorer,me,me,me,me\nbodyparts,nose,nose,tail,tail\ncoords,x,y,x,y\n{image},,,,\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("CollectedData.csv", csv)
        zf.write(TOY / image, image)
    return buffer.getvalue()


def test_a_user_clicks_keypoints_in_label_studio_and_the_label_file_has_them(api: Api, chromium) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    image = sorted(p.relative_to(TOY).as_posix() for p in (TOY / "labeled-data").rglob("*.png"))[0]
    token, _ = api.sign_in("dana", "a long password")
    with api.client(token) as c:
        project = c.post("/projects", json={"name": "clicks", "keypoints": ["nose", "tail"]}).json()["id"]
        resp = c.put(
            f"/projects/{project}/labels", params={"filename": "one.zip"}, content=_one_unlabeled_frame(image)
        )
        assert resp.status_code == 200, resp.text
    opened = _open(api, token, project)
    assert opened["tasks_made"] == 1

    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    refused = []  # what the page asked for and did not get (a request the proxy should allow)
    page.on(
        "response", lambda r: r.status >= 400 and refused.append(f"{r.status} {r.request.method} {r.url}")
    )
    # Label Studio's service worker (/sw.js, scope "/") is refused on purpose: it would take over
    # every page of posecloud's origin; Label Studio works without it.
    page.on(
        "console",
        lambda m: (
            m.type == "error"
            and "fetching the script" not in m.text
            and refused.append(f"console: {m.text[:200]}")
        ),
    )
    signed_in = page.request.post(
        f"{api.url}/auth/login", form={"username": "dana", "password": "a long password"}
    )
    assert signed_in.ok  # the session cookie is now the browser's
    page.goto(api.url + opened["url"])
    page.wait_for_load_state("networkidle")
    page.screenshot(path=ARTIFACTS / "1-data-manager.png")
    (ARTIFACTS / "refused.txt").write_text("\n".join(refused))
    assert not refused, refused
    clicks = {"nose": (0.25, 0.40), "tail": (0.70, 0.65)}
    label_first_task(page, clicks, ARTIFACTS, "2")
    assert not refused, refused

    def labels() -> pd.DataFrame | None:
        resp = api.client(token).get(f"/projects/{project}/labels")
        table = pd.read_csv(io.BytesIO(resp.content), header=[0, 1, 2], index_col=0)
        return table if np.isfinite(table.to_numpy(float)).all() else None

    table = _wait(labels, timeout=20)
    width, height = 396, 406  # the toy frames' size
    for name, (fx, fy) in clicks.items():
        x, y = _point(table.loc[image], name)
        assert x == pytest.approx(fx * width - 0.5, abs=3) and y == pytest.approx(fy * height - 0.5, abs=3)
    context.close()
