"""The page machinery itself: a report page loads from file:// with no errors and escapes names."""
from __future__ import annotations

import pytest

from visioncircuits.demo import Artefact
from visioncircuits.report import write_page

pytestmark = pytest.mark.browser


def test_demo_index_loads_clean_and_escapes(tmp_path, open_page):
    hostile = '<img src=x onerror="document.title=\'pwned\'">'
    sections = [{"name": "stage_99_x", "title": hostile, "seconds": 1.0, "error": None,
                 "artefacts": [Artefact(title=hostile, href="a.html", summary="s")]}]
    path = write_page(tmp_path / "index.html", "demo_index.html.j2", sections=sections, quick=True, seed=0)
    page, rep = open_page(path)
    assert rep.console_errors == [] and rep.page_errors == []
    assert page.title() != "pwned"
    assert rep.image_count == 0  # the hostile <img> was escaped into text
    assert hostile in page.inner_text("body")
    assert rep.screenshot.stat().st_size > 1000
