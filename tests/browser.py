"""Debian's Chromium driven by Playwright, for the browser tests (no browser is downloaded)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


@contextmanager
def chromium_browser() -> Iterator[object]:
    """A headless Chromium; the test is skipped where the package or Playwright is missing."""
    sync_api = pytest.importorskip("playwright.sync_api")
    path = shutil.which("chromium") or CHROMIUM
    if not shutil.which(path):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def choose(page, label: str, option: str, attempts: int = 3) -> None:
    """Pick ``option`` in the Streamlit select box or multiselect called ``label``. A rerun of the
    page (its periodic refresh, on a loaded machine) can close the list just opened: then it is
    opened again, up to ``attempts`` times."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(attempts):
        page.get_by_role("combobox", name=label, exact=True).click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=15_000)
            return
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")
