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
