"""mobilenet-v2 on the ImageNet sample photos: search by the classes of top photos, SAE latent
pages linked both ways, and the CLI's --quick path with UMAP on a toy model."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from visioncircuits.atlas import AtlasConfig, build_atlas
from visioncircuits.atlas.search_index import search
from visioncircuits.cli import main
from visioncircuits.featvis.config import RenderConfig

REPO = Path(__file__).resolve().parents[2]
SAE = REPO / "models" / "sae" / "mobilenet-v2-blocks.9"


@pytest.mark.shared
@pytest.mark.slow
def test_mobilenet_site_with_sae_and_photo_classes(sample_images_dir, tmp_path):
    from visioncircuits.zoo import load_model

    model = load_model("mobilenet-v2", device="cpu")
    cfg = AtlasConfig(render=RenderConfig(steps=4, size=64, progress=False), layers=("blocks.5", "blocks.9"),
                      units="0:2", k=2, diverse=0, negative=False, n_photos=24, atlas_layers=(), sae_latents=1)
    res = build_atlas(model, tmp_path / "site", cfg, dataset=sample_images_dir, saes=[str(SAE)])
    site = tmp_path / "site"
    text = (site / "static" / "search_index.js").read_text()
    entries = json.loads(text[len("window.VC_ATLAS_INDEX = "):].rstrip().rstrip(";"))
    sae_entries = [e for e in entries if e["a"].startswith("sae:")]
    assert res.unit_pages == 4 + len(sae_entries) and 1 <= len(sae_entries) <= 2
    unit = next(e for e in entries if e["a"] == "blocks.9:0")
    assert unit["c"], "top photos of an ImageNet unit carry class names"
    assert unit in search(entries, unit["c"][0])
    page = (site / unit["h"]).read_text()
    assert "SAE latents reading this unit" in page
    latent = sae_entries[0]
    assert f'href="../{latent["h"]}"' in page or any(f'href="../{e["h"]}"' in page for e in sae_entries)
    lpage = (site / latent["h"]).read_text()
    assert "Reads from" in lpage and 'href="../units/blocks.9_' in lpage


@pytest.mark.slow
def test_cli_quick_on_a_toy_model_with_umap(tmp_path, capsys):
    out = tmp_path / "site"
    rc = main(["atlas", "toy-resnet-s0", "--quick", "--out", str(out), "--steps", "6", "--units", "0:2",
               "--max-photos", "40", "--diverse", "0", "--no-negative", "--grid", "4", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    atlas = json.loads((out / "atlas" / "block2.relu2" / "atlas.json").read_text())
    assert atlas["key"]["layout"] == "umap" and atlas["cells"]
    labels = json.loads((out / "labels.json").read_text())
    labels.pop("_model")  # the model fingerprint the labels belong to
    assert set(labels) == {"block1.relu2", "block2.relu2"}  # --quick: two of the main layers
    for layer, by_unit in labels.items():
        for i, text in by_unit.items():
            assert text.split(" (")[0] in (out / "units" / f"{layer}_{i}.html").read_text()
    assert "rendered 4 units" in capsys.readouterr().out
