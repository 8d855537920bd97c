"""A small toy-model site: every link resolves, unit pages carry ground-truth labels and
expanded-weight neighbours, the search index finds units, and the activation atlas is whole."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from visioncircuits.atlas.atlas_build import class_filtered_cells
from visioncircuits.atlas.search_index import search

pytestmark = pytest.mark.slow  # the session fixture builds a toy site (~30 s CPU)


def _index(site: Path) -> list:
    text = (site / "static" / "search_index.js").read_text()
    return json.loads(text[len("window.VC_ATLAS_INDEX = "):].rstrip().rstrip(";"))


def test_every_link_and_image_target_exists(toy_site, links_of):
    site, res = toy_site
    pages = sorted(site.rglob("*.html"))
    assert res.unit_pages == 6 and len(list((site / "units").glob("*.html"))) == 6
    assert (site / "index.html") in pages and (site / "search.html") in pages
    assert len(list((site / "layers").glob("*.html"))) == 2
    checked = 0
    for page in pages:
        for t in links_of(page):
            assert (page.parent / t).resolve().exists(), f"{page.relative_to(site)} links to missing {t}"
            checked += 1
    assert checked > 100


def test_unit_pages_show_ground_truth_labels_and_neighbours(toy_site):
    site, _ = toy_site
    labels = json.loads((site / "labels.json").read_text())
    assert len(labels.pop("_model")) == 24  # the labels' model fingerprint: another model's are not reused
    for layer, by_unit in labels.items():
        for i, text in by_unit.items():
            page = (site / "units" / f"{layer}_{i}.html").read_text()
            assert text.split(" (")[0] in page  # e.g. "curve 135deg" or "unclear"
    page = (site / "units" / "block2.relu2_0.html").read_text()
    assert "Circuit neighbourhood" in page
    for c in range(3):  # all three block1 units are upstream, linked to their pages
        assert f'href="../units/block1.relu2_{c}.html"' in page
    assert "data-kernel=" in page and "Activation histogram" in page
    assert page.count('class="small" src="../gallery/block2.relu2/units/block2.relu2_0/overlay_') == 2


def test_model_page_lists_layers_in_order_with_shapes(toy_site):
    site, _ = toy_site
    page = (site / "index.html").read_text()
    a, b = page.index(">block1.relu2<"), page.index(">block2.relu2<")
    assert a < b
    assert "shape 32×16×16" in page or "×" in page
    assert "activation atlas" in page


def test_search_finds_units_by_label_class_and_address(toy_site):
    site, _ = toy_site
    entries = _index(site)
    assert len(entries) == 6
    assert [e["a"] for e in search(entries, "block2.relu2:1")] == ["block2.relu2:1"]
    label_word = next(e["l"].split()[0] for e in entries if e["l"] and not e["l"].startswith("unclear"))
    assert search(entries, label_word)
    cls = entries[0]["c"][0]
    assert entries[0] in search(entries, cls)
    for e in entries:
        assert (site / e["h"]).exists() and (site / e["t"]).exists()


def test_activation_atlas_is_complete(toy_site):
    site, res = toy_site
    assert res.atlases == ["block2.relu2"]
    adir = site / "atlas" / "block2.relu2"
    atlas = json.loads((adir / "atlas.json").read_text())
    assert atlas["grid"] == 4 and 1 <= len(atlas["cells"]) <= 16
    with Image.open(adir / "atlas.png") as im:
        assert im.size == (4 * 64, 4 * 64)
    for c in atlas["cells"]:
        assert (adir / c["png"]).exists() and c["patches"] and c["classes"]
        assert all((adir / p["png"]).exists() for p in c["patches"])
        assert [x["score"] for x in c["classes"]] == sorted((x["score"] for x in c["classes"]), reverse=True)
    name = atlas["cells"][0]["classes"][0]["name"]
    kept = class_filtered_cells(atlas, name)
    assert atlas["cells"][0] in kept or atlas["cells"][0]["classes"][0]["score"] <= 0
    assert all(any(x["name"] == name and x["score"] > 0 for x in c["classes"][:3]) for c in kept)


def test_universality_matches_are_listed_best_first(toy_site):
    site, _ = toy_site
    page = (site / "units" / "block2.relu2_1.html").read_text()
    assert "Matched units in other models" in page
    assert page.index("relu3:7") < page.index("relu3:2") and "toy-vgg-s0" in page and "0.910" in page
    assert "Matched units" not in (site / "units" / "block2.relu2_0.html").read_text()
