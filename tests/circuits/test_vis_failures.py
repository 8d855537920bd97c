"""A node visualisation that fails is recorded on the node, in circuit.json and on the page; the rest are written."""
from __future__ import annotations

import importlib
import json

from visioncircuits.circuits.export import export_all
from visioncircuits.circuits.graph import build_circuit
from visioncircuits.circuits.vis import render_node_vis, vis_path


def test_failed_node_render_is_recorded_not_hidden(tiny_model, tmp_path, monkeypatch):
    g = build_circuit(tiny_model, "relu2:3", depth=2, top_k=2)
    nodes = sorted(g.nodes)
    bad = nodes[0]
    fr = importlib.import_module("visioncircuits.featvis.render")
    real = fr.render

    def flaky(model, units, **kw):
        if bad in units:
            raise RuntimeError("objective became NaN")
        return real(model, units, **kw)

    monkeypatch.setattr(fr, "render", flaky)
    done = render_node_vis(tiny_model, g, tmp_path / "vis", steps=2, size=16, batch=1)
    assert done == len(nodes) - 1 and g.graph["vis_errors"] == 1
    assert g.nodes[bad]["vis"] == "" and "objective became NaN" in g.nodes[bad]["vis_error"]
    for n in nodes[1:]:
        assert vis_path(tmp_path / "vis", n).is_file() and "vis_error" not in g.nodes[n]
    paths = export_all(g, tmp_path)
    data = json.loads(paths["json"].read_text())
    node = next(n for n in data["nodes"] if n["id"] == bad)
    assert "RuntimeError: objective became NaN" in node["vis_error"]
    html = paths["html"].read_text()
    assert "1 node visualisation(s) failed" in html and "objective became NaN" in html
