"""The toy site in headless Chromium from file://: every page loads clean with no broken link or
image, search finds a unit, the kernel hover works on a unit page, the atlas hover shows patches."""
from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_every_page_loads_clean(toy_site, open_page, links_of):
    site, _ = toy_site
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 11  # model, search, 2 layers, 6 units, 1 atlas
    for html in pages:
        for t in links_of(html):
            assert (html.parent / t).resolve().exists(), f"{html.name}: broken link {t}"
        page, rep = open_page(html, screenshot_name=f"{html.stem}.png")
        assert rep.console_errors == [] and rep.page_errors == [], html
        assert rep.failed_requests == [] and rep.broken_images == [], html
        page.close()


def test_search_finds_a_unit(toy_site, open_page):
    site, _ = toy_site
    page, rep = open_page(site / "search.html")
    page.fill("#atlas-q", "block2.relu2:1")
    items = page.locator("#atlas-results li")
    assert items.count() == 1 and "block2.relu2:1" in items.first.inner_text()
    page.fill("#atlas-q", "zzzz-nothing")
    assert items.count() == 0
    page.goto((site / "search.html").resolve().as_uri() + "?q=block1.relu2")  # the nav box's GET request
    assert page.locator("#atlas-results li").count() == 3
    page.locator("#atlas-results li a").first.click()
    assert "/units/block1.relu2_" in page.url
    assert rep.console_errors == [] and rep.page_errors == []


def test_kernel_hover_on_a_unit_page(toy_site, open_page):
    site, _ = toy_site
    page, rep = open_page(site / "units" / "block2.relu2_0.html")
    tip = page.locator("#kernel-tooltip")
    assert not tip.is_visible()
    page.locator("a.nb[data-kernel]").first.hover()
    assert tip.is_visible()
    assert page.locator("#kernel-tooltip svg.kernel-heatmap rect").count() >= 9  # at least a 3x3 kernel
    assert "block1.relu2:" in tip.inner_text()
    page.mouse.move(1, 1)
    assert not tip.is_visible()
    page.locator("svg.circuit path.hit").first.hover(force=True)
    assert tip.is_visible() and page.locator("#kernel-tooltip svg.kernel-heatmap rect").count() >= 9
    assert rep.console_errors == [] and rep.page_errors == []


def test_atlas_hover_shows_patches_and_the_class_filter_dims_cells(toy_site, open_page):
    site, _ = toy_site
    page, rep = open_page(site / "atlas" / "block2.relu2" / "index.html")
    tip = page.locator("#atlas-tip")
    page.locator("#activation-atlas .cell").first.hover()
    assert tip.is_visible()
    imgs = page.locator("#atlas-tip img")
    assert imgs.count() >= 1
    page.wait_for_function("() => Array.from(document.querySelectorAll('#atlas-tip img'))"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    assert page.locator("#atlas-tip ol.classes li").count() >= 1
    options = page.locator("#atlas-class option")
    assert options.count() >= 2
    page.select_option("#atlas-class", index=1)
    cells = page.locator("#activation-atlas .cell").count()
    dimmed = page.locator("#activation-atlas .cell.dim").count()
    assert 0 <= dimmed < cells  # the chosen class is pushed by at least one cell
    width = page.evaluate("() => document.getElementById('activation-atlas').getBoundingClientRect().width")
    page.click("#atlas-zoom-in")
    assert page.evaluate("() => document.getElementById('activation-atlas').getBoundingClientRect().width") > width
    assert rep.console_errors == [] and rep.page_errors == []
