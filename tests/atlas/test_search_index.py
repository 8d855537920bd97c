"""The search index: what the page's script filters, and its Python twin's rules."""
from __future__ import annotations

import json

from visioncircuits.atlas.photos import photo_class
from visioncircuits.atlas.search_index import index_entry, search, write_search_index

ENTRIES = [
    index_entry("blocks.9:3", "", ["golden retriever", "beagle"], "units/blocks.9_3.html", "t.png"),
    index_entry("blocks.9:4", "curve 45deg", ["tench"], "units/blocks.9_4.html", "t.png"),
    index_entry("sae:models/sae/x:7", "SAE latent 7 on blocks.9", [], "units/sae_7.html", ""),
]


def test_search_by_label_class_and_address():
    assert [e["a"] for e in search(ENTRIES, "curve")] == ["blocks.9:4"]
    assert [e["a"] for e in search(ENTRIES, "Retriever")] == ["blocks.9:3"]
    assert [e["a"] for e in search(ENTRIES, "blocks.9:3")] == ["blocks.9:3"]
    assert [e["a"] for e in search(ENTRIES, "sae latent 7")] == ["sae:models/sae/x:7"]
    assert search(ENTRIES, "blocks.9 tench") == [ENTRIES[1]]  # every word must match
    assert search(ENTRIES, "zebra") == [] and search(ENTRIES, "   ") == []


def test_index_file_is_a_script_that_cannot_close_its_tag(tmp_path):
    hostile = index_entry("a:1", "</script><script>alert(1)</script>", ["x"], "u.html", "")
    f = write_search_index(tmp_path, [hostile])
    text = f.read_text()
    assert text.startswith("window.VC_ATLAS_INDEX = ") and text.rstrip().endswith(";")
    assert "</script" not in text and "<" not in text
    data = json.loads(text[len("window.VC_ATLAS_INDEX = "):].rstrip().rstrip(";"))
    assert data[0]["l"] == "</script><script>alert(1)</script>"


def test_photo_class_from_file_names():
    assert photo_class("/x/n02099601_golden_retriever.jpg") == "golden retriever"
    assert photo_class("toy_0003_dog_ear.png") == "dog ear"
    assert photo_class("0001.png") is None
