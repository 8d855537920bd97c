"""SAE latents work wherever channels do: render, dataset examples and galleries (via unit_map)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("visioncircuits.sae.io")


@pytest.fixture
def sae_dir(tmp_path):
    from visioncircuits.sae.io import save_sae
    from visioncircuits.sae.models import SparseAutoencoder

    torch.manual_seed(0)
    sae = SparseAutoencoder(6, 8, architecture="topk", k=3, cfg={"layer": "conv2", "model": "tiny"})
    return str(save_sae(sae, tmp_path / "sae"))


def test_render_dataset_examples_and_gallery_of_sae_latents(tiny_model, sae_dir, tmp_path):
    from visioncircuits.featvis import build_gallery, dataset_examples, render
    from visioncircuits.unit_activations import resolve_unit, unit_map

    unit = f"sae:{sae_dir}:3"
    r = render(tiny_model, [unit], steps=15, size=16, progress=False)
    before = render(tiny_model, [unit], steps=0, size=16, progress=False)
    u = resolve_unit(tiny_model, unit)
    acts = tiny_model.run_with_cache(r.images, ["conv2"])["conv2"]
    assert r.values[0] == pytest.approx(unit_map(u, acts).mean().item(), rel=1e-4, abs=1e-5)
    assert r.values[0] > before.values[0]

    d = tmp_path / "imgs"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(d / f"{i}.png")
    ex = dataset_examples(tiny_model, [unit], d, k=2, size=16, progress=False)
    assert len(ex.units[0].top) == 2 and ex.units[0].unit == unit
    assert ex.units[0].top[0].value >= ex.units[0].top[1].value

    out = tmp_path / "g"
    g = build_gallery(
        tiny_model, "conv2", out, unit_spec=f"sae:{sae_dir}", units="0:3", steps=2, size=16, progress=False
    )
    assert g.rendered == [0, 1, 2]
    man = json.loads((out / "gallery.json").read_text())
    assert [x["unit"] for x in man["units"]] == [f"sae:{sae_dir}:{i}" for i in range(3)]
