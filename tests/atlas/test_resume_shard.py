"""The site resumes like a gallery: a rerun renders nothing, a changed setting is not reused,
and shards split the units (and atlas cells) between runs sharing the folder."""
from __future__ import annotations

import json
import shutil

import pytest

from visioncircuits.atlas import build_atlas

pytestmark = pytest.mark.slow  # builds toy sites


def test_rerun_renders_nothing_new(toy_site, toy_model, toy_photos, small_cfg, tmp_path):
    first = toy_site[1]
    assert first.rendered_units == 6 and first.rendered_cells > 0
    site = tmp_path / "copy"  # the session's site stays as built (other tests read its pages)
    shutil.copytree(toy_site[0], site)
    stamp = (site / "gallery" / "block2.relu2" / "units" / "block2.relu2_0" / "vis.png").stat().st_mtime_ns
    again = build_atlas(toy_model, site, small_cfg(), dataset=toy_photos)
    assert again.rendered_units == 0 and again.skipped_units == 6 and again.rendered_cells == 0
    assert again.unit_pages == 6
    assert (site / "gallery" / "block2.relu2" / "units" / "block2.relu2_0" / "vis.png").stat().st_mtime_ns == stamp


def test_changed_settings_are_not_silently_reused(toy_site, toy_model, toy_photos, small_cfg, tmp_path):
    site = tmp_path / "copy"
    shutil.copytree(toy_site[0], site)
    res = build_atlas(toy_model, site, small_cfg(render=small_cfg().render.replace(steps=4)), dataset=toy_photos)
    assert res.rendered_units == 6  # every unit re-rendered with the new step count
    rec = json.loads((site / "gallery" / "block1.relu2" / "units" / "block1.relu2_0" / "unit.json").read_text())
    assert rec["settings"]["steps"] == 4
    atlas = json.loads((site / "atlas" / "block2.relu2" / "atlas.json").read_text())
    assert atlas["key"]["steps"] == 4 and res.rendered_cells == len(atlas["cells"])  # every cell re-rendered
    res = build_atlas(toy_model, site, small_cfg(render=small_cfg().render.replace(steps=4), grid=3),
                      dataset=toy_photos)
    assert res.rendered_units == 0 and res.rendered_cells > 0  # a new grid: a new layout, rendered
    assert json.loads((site / "atlas" / "block2.relu2" / "atlas.json").read_text())["grid"] == 3


def test_shards_split_units_and_pages_link_only_to_finished_ones(toy_model, toy_photos, small_cfg, tmp_path,
                                                                 links_of):
    site = tmp_path / "sharded"
    cfg = small_cfg(atlas_layers=())
    one = build_atlas(toy_model, site, cfg, shard="1/2", dataset=toy_photos)
    assert one.rendered_units == 4 and one.unit_pages == 4  # units 0 and 2 of each layer
    for page in site.rglob("*.html"):
        for t in links_of(page):
            assert (page.parent / t).resolve().exists(), f"{page.name} links to unfinished {t}"
    two = build_atlas(toy_model, site, cfg, shard="2/2", dataset=toy_photos)
    assert two.rendered_units == 2 and two.skipped_units == 0 and two.unit_pages == 6
