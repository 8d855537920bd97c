"""Every page the demo writes (index, toy-zoo gallery, SAE page, circuit diagram, universality
report) loads from file:// in headless Chromium with no console errors, no failed requests and
no broken images; the circuit diagram shows a kernel when an edge is hovered."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    from visioncircuits.demo import run_demo

    out = tmp_path_factory.mktemp("demo")
    run_demo(out, quick=True, seed=0)
    return out


def _pages(demo_dir: Path) -> list[Path]:
    return sorted(demo_dir.rglob("*.html"))


def test_demo_writes_a_page_per_stage(demo_dir):
    pages = [p.relative_to(demo_dir).as_posix() for p in _pages(demo_dir)]
    assert "index.html" in pages
    for part in ("toyzoo", "sae", "circuit", "universality"):
        assert any(part in p for p in pages), f"no {part} page among {pages}"


def test_every_demo_page_loads_clean(demo_dir, open_page):
    shots = os.environ.get("VISIONCIRCUITS_SCREENSHOTS")
    checked = 0
    for html in _pages(demo_dir):
        name = html.relative_to(demo_dir).as_posix().replace("/", "__").replace(".html", ".png")
        page, rep = open_page(html, screenshot_name=name)
        assert rep.console_errors == [], (html, rep.console_errors)
        assert rep.page_errors == [], (html, rep.page_errors)
        assert rep.failed_requests == [], (html, rep.failed_requests)
        assert rep.broken_images == [], (html, rep.broken_images)
        assert not page.evaluate(
            "() => Array.from(document.querySelectorAll('[src],[href]'))"
            ".some(e => /^(https?:)?\\/\\//.test(e.getAttribute('src') || e.getAttribute('href') || ''))"
        ), html
        assert rep.screenshot.stat().st_size > 1000
        checked += 1
        page.close()
    assert checked >= 5 or shots is not None


def test_index_links_resolve(demo_dir, open_page):
    page, rep = open_page(demo_dir / "index.html")
    hrefs = page.evaluate("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))")
    local = [h for h in hrefs if not h.startswith("#")]
    assert local, "index links nothing"
    for h in local:
        assert (demo_dir / h.split("#")[0]).exists(), h


def test_circuit_diagram_hover_shows_kernel(demo_dir, open_page):
    diagrams = [p for p in _pages(demo_dir) if 'id="kernel-tooltip"' in p.read_text(errors="ignore")]
    assert diagrams, "no circuit diagram with kernels in the demo"
    page, rep = open_page(diagrams[0], screenshot_name="circuit_hover.png")
    tip = page.locator("#kernel-tooltip")
    assert not tip.is_visible()
    page.locator("svg.circuit path.hit").first.hover(force=True)
    assert tip.is_visible()
    assert page.locator("#kernel-tooltip svg.kernel-heatmap rect").count() >= 1
