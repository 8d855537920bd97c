"""Exports: every format reads back with the same graph; the HTML page is safe and offline."""
from __future__ import annotations

import json
import re

import networkx as nx
import pytest
import torch

from visioncircuits.atomic import write_png
from visioncircuits.circuits.export import export_all, from_node_link, to_dot, write_graph
from visioncircuits.circuits.graph import build_circuit
from visioncircuits.errors import InputError

EVIL = '<script>alert("x")</script>&'


@pytest.fixture
def circuit(tiny_model, tmp_path):
    write_png(tmp_path / "vis" / "relu2_1.png", torch.rand(3, 8, 8))
    return build_circuit(
        tiny_model,
        "logit:0",
        depth=2,
        top_k=3,
        labels=lambda layer, i: EVIL if i == 1 else f"unit {i}",
        vis=lambda key: str(tmp_path / "vis" / "relu2_1.png") if key.startswith("relu2") else "",
    )


def test_all_formats_round_trip(circuit, tmp_path):
    paths = export_all(circuit, tmp_path / "out", stem="logit:0 circuit")
    assert sorted(paths) == ["dot", "gexf", "graphml", "html", "json"]
    assert all(p.name.startswith("logit_0_circuit") for p in paths.values())
    edges = {(u, v): d["strength"] for u, v, d in circuit.edges(data=True)}
    for fmt, reader in (("graphml", nx.read_graphml), ("gexf", nx.read_gexf)):
        g = reader(paths[fmt])
        assert set(g.nodes) == set(circuit.nodes)
        assert {(u, v): float(d["strength"]) for u, v, d in g.edges(data=True)} == pytest.approx(edges)
        k = next(d["kernel"] for _, _, d in g.edges(data=True) if "kernel" in d)
        assert isinstance(json.loads(k), list)  # list attributes survive as JSON text
    g = from_node_link(json.loads(paths["json"].read_text()))
    assert {(u, v): d["strength"] for u, v, d in g.edges(data=True)} == edges
    u, v = next(iter(circuit.edges))
    assert g.edges[u, v]["kernel"] == circuit.edges[u, v]["kernel"]
    dot = paths["dot"].read_text()
    assert dot.count("->") == circuit.number_of_edges()
    assert '\\"x\\"' in dot or EVIL not in [d["label"] for d in circuit.nodes.values()]
    assert ("#c0392b" in dot) == any(d["strength"] > 0 for *_, d in circuit.edges(data=True))
    with pytest.raises(InputError, match="unknown graph format"):
        write_graph(circuit, tmp_path / "c.xyz")


def test_html_is_self_contained_and_escaped(circuit, tmp_path):
    html = write_graph(circuit, tmp_path / "c.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "kernel-tooltip" in html
    assert html.count('class="hit"') == circuit.number_of_edges()
    assert "data:image/png;base64," in html  # the node's visualisation is embedded
    urls = re.findall(r'\s(?:src|href)="([^"]+)"', html)
    assert urls and all(u.startswith("data:") for u in urls)
    assert (
        "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html
    )  # only the SVG namespace


def test_dot_quotes_names(circuit):
    g = nx.DiGraph()
    g.add_node('a"b', depth=1, label="x\ny")
    g.add_node("t", depth=0, label="")
    g.add_edge('a"b', "t", strength=-0.5)
    dot = to_dot(g)
    assert '"a\\"b" -> "t"' in dot and "x\\ny" in dot and "#2e6fb7" in dot


@pytest.mark.browser
def test_hovering_an_edge_shows_its_kernel(circuit, tmp_path, browser):
    path = write_graph(circuit, tmp_path / "c.html")
    page = browser.new_page()
    try:
        errors, requests = [], []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
        page.goto(path.as_uri())
        tip = page.locator("#kernel-tooltip")
        assert not tip.is_visible()
        hit = page.locator("svg.circuit path.hit").first
        src, dst = hit.get_attribute("data-src"), hit.get_attribute("data-dst")
        hit.hover(force=True)
        assert tip.is_visible()
        k = circuit.edges[src, dst]["kernel"]
        assert page.locator("#kernel-tooltip svg.kernel-heatmap rect").count() == len(k) * len(k[0])
        assert src in tip.inner_text()
        page.mouse.move(0, 0)
        assert not tip.is_visible()
        assert errors == [] and requests == []
    finally:
        page.close()
