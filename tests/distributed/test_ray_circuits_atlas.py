"""Expanded weights of all layer pairs and the atlas site on Ray equal single-process runs."""
from __future__ import annotations

import json

import pytest

from visioncircuits.atlas import AtlasConfig, build_atlas
from visioncircuits.circuits.expanded_pairs import expanded_all_pairs, layer_pairs
from visioncircuits.cli import main
from visioncircuits.device import batch_invariant
from visioncircuits.distributed import RayConfig
from visioncircuits.featvis.config import RenderConfig

pytestmark = pytest.mark.ray


@pytest.mark.slow  # > 20 s on a busy 2-core machine (still runs in CI)
def test_expanded_all_pairs_on_ray_equal_one_process(ray_cluster, tree, tmp_path, capsys):
    from visioncircuits.zoo import load_model

    model = load_model("toy-resnet-s0", device="cpu")
    layers = ["block1.relu2", "block2.relu2", "block3.relu2"]
    assert len(layer_pairs(model, layers, "all")) == 3
    with batch_invariant():
        one = expanded_all_pairs(model, tmp_path / "one", layers, progress=False)
    with batch_invariant():
        par = expanded_all_pairs(model, tmp_path / "ray", layers, ray=RayConfig(progress=False))
    assert one == par and [(p["lower"], p["upper"]) for p in one["pairs"]] == list(zip(layers[:-1], layers[1:]))
    assert tree(tmp_path / "one") == tree(tmp_path / "ray")  # safetensors files byte for byte
    assert main(["expanded", "toy-resnet-s0", "--layers", *layers, "--out", str(tmp_path / "ray"), "--ray"]) == 0
    assert "block1.relu2 -> block2.relu2" in capsys.readouterr().out  # the CLI resumes: nothing left to do


def test_atlas_on_ray_equals_one_process(ray_cluster, tree, tmp_path):
    from visioncircuits.atlas.photos import toy_photos
    from visioncircuits.zoo import load_model

    model = load_model("toy-resnet-s0", device="cpu")
    photos = toy_photos(tmp_path / "photos", 16, 64)
    cfg = AtlasConfig(render=RenderConfig(steps=4, size=64, progress=False, batch_size=4), layers=("block2.relu2",),
                      units="0:3", k=2, diverse=0, negative=False, n_photos=16, grid=2, positions=4, min_count=1,
                      atlas_patches=2, layout="pca", objective="neuron", neighbours=2)
    with batch_invariant():
        one = build_atlas(model, tmp_path / "one", cfg, dataset=photos)
    with batch_invariant():
        par = build_atlas(model, tmp_path / "ray", cfg, dataset=photos, ray=RayConfig(shards=2, progress=False))
    assert (par.rendered_units, par.rendered_cells, par.atlases) == (one.rendered_units, one.rendered_cells,
                                                                     one.atlases) == (3, one.rendered_cells,
                                                                                      ["block2.relu2"])
    a, b = tree(tmp_path / "one"), tree(tmp_path / "ray")
    times = [json.loads(t.pop("build.json"))["stages"] for t in (a, b)]  # the only file allowed to differ: timings
    assert times[0].keys() == times[1].keys()
    assert a.keys() == b.keys() and a == b
    atlas = json.loads(b["atlas/block2.relu2/atlas.json"])
    assert len(atlas["cells"]) == one.rendered_cells > 1
