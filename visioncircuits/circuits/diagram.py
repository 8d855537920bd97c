"""The interactive circuit diagram: one self-contained HTML page in the Distill style.

Layers are rows (the target on top, inputs below), each node shows its feature
visualisation (embedded as a data URI, so the page works from file:// with no network),
edges are red (excitatory) or blue (inhibitory) with width by strength, and hovering an
edge shows its spatial kernel as a small heatmap in ``#kernel-tooltip``. Everything is
laid out here in Python and drawn as inline SVG by an autoescaped Jinja2 template; the
only script is a few lines of vanilla JS for the tooltip.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Optional, Union

import networkx as nx

from visioncircuits.report import data_uri, write_page

log = logging.getLogger(__name__)

NODE = 84  # node image size in px
GAP_X, GAP_Y, MARGIN, LABEL_H = 40, 110, 30, 34


def _vis_uri(path: str) -> str:
    if not path:
        return ""
    p = Path(path)
    if not p.is_file():
        log.warning("visualisation %s not found; node drawn without it", p)
        return ""
    try:
        return data_uri(p)
    except OSError as e:
        log.warning("cannot embed %s: %s", p, e)
        return ""


def layout(graph: nx.DiGraph) -> dict:
    """Positions of nodes (rows by depth, target on top) and edge geometry for the template."""
    rows: dict[int, list] = {}
    for n, d in graph.nodes(data=True):
        rows.setdefault(int(d.get("depth", 0)), []).append(n)
    for depth in rows:  # order a row by strongest downstream connection, then unit
        rows[depth].sort(
            key=lambda n: (-max((abs(e["strength"]) for _, _, e in graph.out_edges(n, data=True)), default=0), str(n))
        )
    widest = max((len(r) for r in rows.values()), default=1)
    width = 2 * MARGIN + widest * NODE + (widest - 1) * GAP_X
    pos, nodes = {}, []
    for depth, names in sorted(rows.items()):
        row_w = len(names) * NODE + (len(names) - 1) * GAP_X
        x0 = (width - row_w) / 2
        y = MARGIN + depth * (NODE + LABEL_H + GAP_Y)
        for i, n in enumerate(names):
            d = graph.nodes[n]
            x = x0 + i * (NODE + GAP_X)
            pos[n] = (x, y)
            nodes.append(
                {
                    "key": str(n),
                    "x": x,
                    "y": y,
                    "layer": str(d.get("layer", "")),
                    "label": str(d.get("label", "")),
                    "img": _vis_uri(str(d.get("vis", ""))),
                    "depth": depth,
                    "stats": {k: d[k] for k in ("act_mean", "act_max") if k in d},
                }
            )
    height = MARGIN * 2 + (max(rows, default=0) + 1) * (NODE + LABEL_H + GAP_Y) - GAP_Y
    wmax = max((abs(e["strength"]) for _, _, e in graph.edges(data=True)), default=1.0) or 1.0
    edges = []
    for u, v, e in graph.edges(data=True):
        (ux, uy), (vx, vy) = pos[u], pos[v]
        x1, y1 = ux + NODE / 2, uy  # top of the lower node
        x2, y2 = vx + NODE / 2, vy + NODE + LABEL_H + 2  # below the upper node's label
        my = (y1 + y2) / 2
        edges.append({"src": str(u), "dst": str(v), "strength": float(e["strength"]),
                      "path": f"M{x1:.1f},{y1:.1f} C{x1:.1f},{my:.1f} {x2:.1f},{my:.1f} {x2:.1f},{y2:.1f}",
                      "colour": "var(--pos)" if e["strength"] > 0 else "var(--neg)",
                      "width": round(0.8 + 7.0 * abs(e["strength"]) / wmax, 2),
                      "kernel": json.dumps(e.get("kernel") or [])})
    edges.sort(key=lambda e: abs(e["strength"]))  # strongest drawn last, on top
    return {"width": width, "height": height, "nodes": nodes, "edges": edges}


def write_diagram(graph: nx.DiGraph, path: Union[str, os.PathLike], title: Optional[str] = None) -> Path:
    """Write the circuit diagram page to ``path`` (atomically)."""
    meta = dict(graph.graph)
    target = str(meta.get("target", "?"))
    label = graph.nodes[target].get("label") if target in graph else ""
    title = title or f"Circuit of {target}{f' ({label})' if label else ''} in {meta.get('model', '?')}"
    return write_page(path, "circuit.html.j2", title=title, meta=meta, lay=layout(graph), node_size=NODE,
                      edges_table=sorted(layout_edges_table(graph), key=lambda r: -abs(r["strength"])))


def layout_edges_table(graph: nx.DiGraph) -> list[dict]:
    return [{"src": str(u), "dst": str(v), "strength": float(e["strength"])} for u, v, e in graph.edges(data=True)]
