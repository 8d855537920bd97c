"""Demo stage 40 on the committed toy zoo (quick mode): two unsupervised models that share
nothing by construction (architecture, seed, initial weights, supervision) match units whose
ground-truth labels agree far above chance, while the same-index baseline stays near chance."""
from __future__ import annotations

import json

from visioncircuits.zoo import get_spec


def test_stage_40_quick(tmp_path):
    from visioncircuits.demo import DemoContext
    from visioncircuits.demo import stage_40_universality as stage

    arts = stage.run(DemoContext(out=tmp_path, quick=True))
    assert len(arts) == 1 and (tmp_path / arts[0].href).is_file()
    m = json.loads((tmp_path / "universality" / "summary.json").read_text())
    a, b = (get_spec(n) for n in m["models"])
    # nothing shared by construction
    assert m["supervised"] == [False, False] and a.extra["arch"] != b.extra["arch"] and a.extra["seed"] != b.extra["seed"]
    assert m["top"] == 50 and m["probe_images"] == 64
    # measured 30/50 (60%) same label; random-weights B 36%; random pairing 11%
    assert m["same_label_fraction"] >= 0.5
    assert m["same_label_fraction"] >= 4 * m["random_pairing_chance"]
    assert m["same_label_fraction"] > m["random_weights_same_label_fraction"] + 0.1
    # same-index baseline: measured 5/138 (chance 1/138 per match); shared init made it 13/138 in the old zoo
    assert m["same_index_fraction"] <= 0.06 and m["top_same_index"] <= 4
    assert m["identity_mean_r"] < 0.5 * m["matching_mean_r"]  # unit i of A is not unit i of B
    assert 0 < m["significant_matches"] <= m["matches"]
    html = (tmp_path / "universality" / "report.html").read_text()
    assert "share their label" in html and "Same-index baseline" in html and "unsupervised (class loss only)" in html
    assert "same-index baseline" in arts[0].summary
