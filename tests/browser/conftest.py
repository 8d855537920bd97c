"""Headless Chromium for page tests, driven by Playwright against Debian's chromium.

Skips with a clear reason when no browser is installed, except in CI (CI=true), where a
missing browser is a failure: the pages must be proven to load there.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _chromium() -> str | None:
    for name in (os.environ.get("VISIONCIRCUITS_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@dataclass
class PageReport:
    url: str
    console_errors: list = field(default_factory=list)
    page_errors: list = field(default_factory=list)
    failed_requests: list = field(default_factory=list)
    broken_images: list = field(default_factory=list)
    image_count: int = 0
    screenshot: Path | None = None


@pytest.fixture(scope="session")
def browser():
    exe = _chromium()
    if exe is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("no chromium found in CI: .ci/run must install Debian's chromium")
        pytest.skip("no chromium installed (apt-get install chromium) - browser tests skipped")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("playwright not installed in CI")
        pytest.skip("playwright not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def open_page(browser, tmp_path):
    """``open_page(html_path) -> (page, PageReport)``: loads from file://, records console errors,
    page errors, failed requests and images that did not decode, and saves a screenshot."""
    pages = []

    def _open(html: Path, screenshot_name: str = "page.png"):
        html = Path(html).resolve()
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        pages.append(page)
        rep = PageReport(url=html.as_uri())
        page.on("console", lambda m: rep.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: rep.page_errors.append(str(e)))
        page.on("requestfailed", lambda r: rep.failed_requests.append(r.url))
        page.goto(rep.url, wait_until="load")
        rep.broken_images = page.evaluate(
            "() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 120))"
        )
        rep.image_count = page.evaluate("() => document.images.length")
        shot = Path(os.environ.get("VISIONCIRCUITS_SCREENSHOTS", tmp_path)) / screenshot_name
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=False)
        rep.screenshot = shot
        return page, rep

    yield _open
    for p in pages:
        p.close()
