"""The MobileNet demo stage's pages load from file:// with no console errors, no failed
requests and no broken images, and the page says where its images came from."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def stage_dir(tmp_path_factory) -> Path:
    pytest.importorskip("skimage")
    from visioncircuits.demo import run_demo

    out = tmp_path_factory.mktemp("demo_mobilenet")
    run_demo(out, quick=True, stages=["mobilenet"])
    return out


def test_mobilenet_pages_load_clean(stage_dir, open_page):
    pages = sorted((stage_dir / "mobilenet").rglob("*.html"))
    assert any(p.name == "index.html" and p.parent.name == "mobilenet" for p in pages)
    assert len(pages) >= 5  # stage page, 3 galleries, circuit, universality report, SAE gallery
    for html in pages:
        page, rep = open_page(html)
        assert rep.console_errors == [] and rep.page_errors == [], (html, rep.console_errors, rep.page_errors)
        assert rep.failed_requests == [] and rep.broken_images == [], (html, rep.failed_requests, rep.broken_images)
        page.close()
    page, _ = open_page(stage_dir / "mobilenet" / "index.html")
    assert "scikit-image" in page.inner_text("#data-source")
    hrefs = page.evaluate("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))")
    assert hrefs and all((stage_dir / "mobilenet" / h).exists() for h in hrefs)
