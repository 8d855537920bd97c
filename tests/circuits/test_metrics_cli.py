"""``visioncircuits circuit`` measures and prints circuit metrics with images, says "not computed" without."""
from __future__ import annotations

import json

import networkx as nx
import pytest

from visioncircuits.cli import main


@pytest.fixture(autouse=True)
def one_thread():
    from visioncircuits.device import torch_threads

    with torch_threads(1):
        yield


def test_toyworld_circuit_prints_and_stores_its_metrics(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["circuit", "toy-vgg-s0", "logit:1", "--toyworld", "--n-images", "16", "--null", "10", "--depth", "1",
               "--top-k", "3", "--rank", "positive", "--no-vis", "--no-labels", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    m = json.loads((out / "circuit.json").read_text())["graph"]["metrics"]
    assert m["status"] == "computed" and m["layers"] == {"relu4": {"units": 3, "of": 64}}
    assert m["null"]["n"] == 10 and m["curve"]["method"] == "weights" and len(m["curve"]["faithfulness"]) == 11
    assert m["images"]["reference"] == 16 and m["images"]["held_out"] == 16  # top quarter of 64 fresh images
    assert f"faithfulness {m['faithfulness']:.2f}" in printed and f"completeness {m['completeness']:.2f}" in printed
    assert f"AUC {m['curve']['auc']:.2f}" in printed and "3 units" in printed
    html = (out / "circuit.html").read_text()
    assert 'id="metrics"' in html and f"<b>{m['faithfulness']:.3f}</b>" in html


def test_weights_only_circuit_says_not_computed(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["circuit", "cifar10-resnet20", "logit:3", "--weights", "random", "--depth", "1", "--top-k", "2",
               "--no-vis", "--out", str(out)])
    assert rc == 0
    assert "metrics: not computed (no images" in capsys.readouterr().out
    m = json.loads((out / "circuit.json").read_text())["graph"]["metrics"]
    assert m["status"] == "not computed" and "faithfulness" not in m
    assert "Not computed: no images" in (out / "circuit.html").read_text()


@pytest.mark.parametrize("args, message", [
    (["--toyworld", "--dataset", "."], "not both"),
    (["--toyworld", "--null", "1"], "--null"),
])
def test_bad_metric_flags_are_one_line_and_exit_2(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    rc = main(["circuit", "toy-vgg-s0", "logit:1", *args, "--no-vis", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_page_escapes_names_in_the_metrics(tmp_path):
    from visioncircuits.circuits.diagram import write_diagram

    g = nx.DiGraph(target="logit:0", model="m", method="weights", depth=1, top_k=1, attribution="", share="")
    g.add_node("logit:0", depth=0, layer="logits", label="")
    g.add_node("a:1", depth=1, layer="a", label="")
    g.add_edge("a:1", "logit:0", strength=1.0)
    evil = '<script>alert("x")</script>'
    g.graph["metrics"] = {"status": "computed", "faithfulness": 0.5, "completeness": 0.25, "units": 1,
                          "share_of_units": 0.5, "n_images": 4, "layers": {evil: {"units": 1, "of": 2}},
                          "images": {"selection": evil}, "null": {}, "curve": {}, "definition": "d", "notes": [evil]}
    html = write_diagram(g, tmp_path / "c.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html and "<b>0.500</b>" in html
    g.graph["metrics"] = {"status": "not computed", "reason": evil}
    html = write_diagram(g, tmp_path / "c.html").read_text()
    assert "<script>alert" not in html and "Not computed: &lt;script&gt;" in html
