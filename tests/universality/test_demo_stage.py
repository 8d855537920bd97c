"""Demo stage 40 on the committed toy zoo (quick mode): units matched across two different
architectures share their ground-truth labels far above chance."""
from __future__ import annotations

import json



def test_stage_40_quick(tmp_path):
    from visioncircuits.demo import DemoContext
    from visioncircuits.demo import stage_40_universality as stage

    arts = stage.run(DemoContext(out=tmp_path, quick=True))
    assert len(arts) == 1 and (tmp_path / arts[0].href).is_file()
    m = json.loads((tmp_path / "universality" / "summary.json").read_text())
    assert m["models"][0].split("-")[1] != m["models"][1].split("-")[1] or "narrow" in m["models"][1]
    assert m["top"] == 50 and m["probe_images"] == 64
    # trained vs trained: most of the top-50 labelled matches share their label
    assert m["same_label_fraction"] >= 0.6
    assert m["same_label_fraction"] >= 4 * m["random_pairing_chance"]
    assert m["same_label_fraction"] > m["random_weights_same_label_fraction"]
    assert 0 < m["significant_matches"] <= m["matches"]
    html = (tmp_path / "universality" / "report.html").read_text()
    assert "share their label" in html and m["models"][0] in html
