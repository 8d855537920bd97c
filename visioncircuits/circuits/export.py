"""Write circuit graphs to the formats other tools read: GraphML (yEd, Cytoscape), node-link
JSON (d3, our HTML page), GEXF (Gephi) and DOT (Graphviz).

GraphML and GEXF only hold scalar attributes, so list-valued ones (an edge's spatial
kernel) are stored there as JSON strings; node-link JSON keeps them as lists. Every file
is written atomically.
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Iterable, Union

import networkx as nx

from visioncircuits.atomic import write_bytes, write_json, write_text
from visioncircuits.errors import InputError
from visioncircuits.utils import slug

FORMATS = ("graphml", "json", "gexf", "dot", "html")
SUFFIX = {"graphml": ".graphml", "json": ".json", "gexf": ".gexf", "dot": ".dot", "html": ".html"}


def _scalar_copy(graph: nx.DiGraph) -> nx.DiGraph:
    """Same graph with lists/dicts/None turned into strings, as GraphML and GEXF require."""
    def fix(d: dict) -> dict:
        return {
            k: (json.dumps(v) if isinstance(v, (list, dict, tuple)) else ("" if v is None else v)) for k, v in d.items()
        }

    g = nx.DiGraph()
    g.graph.update(fix(graph.graph))
    g.add_nodes_from((n, fix(d)) for n, d in graph.nodes(data=True))
    g.add_edges_from((u, v, fix(d)) for u, v, d in graph.edges(data=True))
    return g


def to_node_link(graph: nx.DiGraph) -> dict:
    """networkx's node-link dict (``nodes``, ``edges``), JSON-ready."""
    return nx.node_link_data(graph, edges="edges")


def from_node_link(data: dict) -> nx.DiGraph:
    return nx.node_link_graph(data, directed=True, edges="edges")


def _dot_quote(s) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: nx.DiGraph) -> str:
    """Graphviz DOT text (no pydot needed): layers as ranks, edges red (+) / blue (-)."""
    lines = ["digraph circuit {", "  rankdir=BT;", "  node [shape=box, style=rounded, fontname=Helvetica];"]
    by_depth: dict[int, list] = {}
    for n, d in graph.nodes(data=True):
        by_depth.setdefault(d.get("depth", 0), []).append(n)
        label = f"{n}\n{d['label']}" if d.get("label") else str(n)
        lines.append(f"  {_dot_quote(n)} [label={_dot_quote(label)}];")
    for _, nodes in sorted(by_depth.items()):
        lines.append("  { rank=same; " + " ".join(_dot_quote(n) for n in nodes) + " }")
    wmax = max((abs(d["strength"]) for _, _, d in graph.edges(data=True)), default=1.0) or 1.0
    for u, v, d in graph.edges(data=True):
        colour = "#c0392b" if d["strength"] > 0 else "#2e6fb7"
        width = 0.5 + 4.0 * abs(d["strength"]) / wmax
        strength = f"{d['strength']:.3g}"
        lines.append(f"  {_dot_quote(u)} -> {_dot_quote(v)} [color={_dot_quote(colour)}, penwidth={width:.2f}, "
                     f"label={_dot_quote(strength)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_graph(graph: nx.DiGraph, path: Union[str, os.PathLike], fmt: str | None = None, **html_kwargs) -> Path:
    """Write ``graph`` to ``path`` in ``fmt`` (default: from the suffix)."""
    path = Path(path)
    fmt = fmt or {v: k for k, v in SUFFIX.items()}.get(path.suffix.lower())
    if fmt not in FORMATS:
        raise InputError(f"unknown graph format for {path.name}; use one of {', '.join(FORMATS)}")
    if fmt == "json":
        return write_json(path, to_node_link(graph))
    if fmt == "dot":
        return write_text(path, to_dot(graph))
    if fmt == "html":
        from visioncircuits.circuits.diagram import write_diagram

        return write_diagram(graph, path, **html_kwargs)
    buf = io.BytesIO()
    g = _scalar_copy(graph)
    if fmt == "graphml":
        nx.write_graphml(g, buf)
    else:
        nx.write_gexf(g, buf)
    return write_bytes(path, buf.getvalue())


def export_all(graph: nx.DiGraph, out_dir: Union[str, os.PathLike], stem: str = "circuit",
               formats: Iterable[str] = FORMATS, **html_kwargs) -> dict[str, Path]:
    """Write every format to ``out_dir/<stem>.<suffix>``; returns ``{format: path}``."""
    stem = slug(stem, default="circuit")
    return {fmt: write_graph(graph, Path(out_dir) / f"{stem}{SUFFIX[fmt]}", fmt, **html_kwargs) for fmt in formats}
