"""Demo stage 20 in quick mode: trains an SAE on toy-narrow-s0 and scores it against ground truth."""
from __future__ import annotations

import json

import pytest

from visioncircuits.demo import DemoContext


@pytest.mark.slow
def test_stage_20_quick(tmp_path, monkeypatch):
    from visioncircuits.demo import stage_20_sae
    from visioncircuits.sae.io import load_sae

    ctx = DemoContext(out=tmp_path, quick=True)
    arts = stage_20_sae.run(ctx)
    rec = json.loads((tmp_path / "sae" / "recovery.json").read_text())
    assert len(rec["rows"]) == 26
    for r in rec["rows"]:
        assert 0 <= r["latent_auc"] <= 1 and 0 <= r["neuron_auc"] <= 1
    assert rec["summary"]["latents_recovered"] == pytest.approx(sum(r["latent_auc"] >= 0.95 for r in rec["rows"]) / 26)
    sae = load_sae(tmp_path / "sae" / "sae")
    assert sae.cfg["model"] == "toy-narrow-s0" and sae.d_in == 12
    assert ctx.shared["sae"]["dir"] == str(tmp_path / "sae" / "sae")
    page = (tmp_path / arts[0].href).read_text()
    assert "toy-narrow-s0" in page and "neurons" in page
    assert len(rec["scenes_rows"]) == 26 and 0 <= rec["scenes_summary"]["latents_recovered"] <= 1
    assert 0 <= rec["metrics"]["loss_recovered"] <= 1.5 and rec["metrics"]["loss_kind"] == "cross_entropy"
    # the latent gallery's files exist (a failure would be recorded, not silently dropped)
    assert rec["gallery"]["error"] is None and rec["gallery"]["href"]
    index = tmp_path / "sae" / rec["gallery"]["href"]
    assert index.is_file() and list(index.parent.rglob("*.png"))

    # a failing gallery: the table stands, the failure is on the page and in the JSON (the finished SAE is reused)
    def boom(*args, **kwargs):
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(stage_20_sae, "_gallery", boom)
    arts = stage_20_sae.run(DemoContext(out=tmp_path, quick=True))
    rec = json.loads((tmp_path / "sae" / "recovery.json").read_text())
    assert rec["gallery"] == {"href": None, "error": "RuntimeError: renderer exploded"} and len(rec["rows"]) == 26
    assert "renderer exploded" in (tmp_path / arts[0].href).read_text() and "gallery FAILED" in arts[0].summary
