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


def _layer_gallery(toy_model, toy_photos, cfg, out, steps=None):
    from visioncircuits.featvis.gallery import build_gallery

    render = cfg.render if steps is None else cfg.render.replace(steps=steps)
    return build_gallery(toy_model, "block2.relu2", out, render, units=[0, 1, 2], dataset=toy_photos,
                         diverse=cfg.diverse, negative=cfg.negative, k=cfg.k, write_html=True,
                         max_examples=cfg.n_photos, objective=cfg.objective)


def test_a_gallery_with_the_same_settings_is_reused(toy_model, toy_photos, small_cfg, tmp_path):
    cfg = small_cfg(atlas_layers=())
    _layer_gallery(toy_model, toy_photos, cfg, tmp_path / "g")
    res = build_atlas(toy_model, tmp_path / "site", cfg, dataset=toy_photos, galleries=[tmp_path / "g"])
    assert res.imported_units == 3
    assert res.rendered_units == 3 and res.skipped_units == 3  # only block1.relu2 is rendered
    unit = "units/block2.relu2_1/vis.png"
    assert (tmp_path / "site/gallery/block2.relu2" / unit).read_bytes() == (tmp_path / "g" / unit).read_bytes()
    build = json.loads((tmp_path / "site" / "build.json").read_text())
    assert build["imported_units"] == 3 and build["rendered_units"] == 3
    assert build["stages"]["total"]["cpu_s"] >= build["stages"]["renders and dataset examples"]["cpu_s"] >= 0


def test_a_gallery_with_other_settings_is_re_rendered(toy_model, toy_photos, small_cfg, tmp_path):
    cfg = small_cfg(atlas_layers=())
    _layer_gallery(toy_model, toy_photos, cfg, tmp_path / "g", steps=cfg.render.steps + 2)
    res = build_atlas(toy_model, tmp_path / "site", cfg, dataset=toy_photos, galleries=[tmp_path / "g"])
    assert res.imported_units == 3 and res.rendered_units == 6 and res.skipped_units == 0
    rec = json.loads((tmp_path / "site/gallery/block2.relu2/units/block2.relu2_1/unit.json").read_text())
    assert rec["settings"]["steps"] == cfg.render.steps


def test_a_gallery_of_another_layer_is_refused(toy_model, toy_photos, small_cfg, tmp_path):
    from visioncircuits.errors import InputError
    from visioncircuits.featvis.gallery import build_gallery

    build_gallery(toy_model, "block3.relu2", tmp_path / "g", small_cfg().render, units=[0], write_html=False)
    with pytest.raises(InputError, match="block3.relu2"):
        build_atlas(toy_model, tmp_path / "site", small_cfg(atlas_layers=()), dataset=toy_photos,
                    galleries=[tmp_path / "g"])
    assert not (tmp_path / "site" / "gallery").exists()


def test_other_weights_under_the_same_name_re_render_everything(toy_site, toy_photos, small_cfg, tmp_path):
    """Fingerprints: a site resumed with other weights reuses no render, cell, label or neighbour cache."""
    from visioncircuits.fingerprint import digest, model_fingerprint, weights_digest
    from visioncircuits.zoo import get_spec, load_model

    site = tmp_path / "copy"
    shutil.copytree(toy_site[0], site)
    other = load_model("toy-resnet-s0", weights=get_spec("toy-resnet-s1").default_weights, device="cpu")
    res = build_atlas(other, site, small_cfg(), dataset=toy_photos)
    assert res.rendered_units == 6 and res.skipped_units == 0 and res.rendered_cells > 0
    man = json.loads((site / "gallery" / "block1.relu2" / "gallery.json").read_text())
    assert man["fingerprint"]["weights"] == weights_digest(other) and man["stale_units"] == 0
    assert json.loads((site / "labels.json").read_text())["_model"] == digest(model_fingerprint(other))
    key = json.loads((site / "atlas" / "block2.relu2" / "atlas.json").read_text())["key"]
    assert key["weights"] == weights_digest(other)
