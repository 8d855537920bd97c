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
                    "vis_error": str(d.get("vis_error") or ""),
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
        edges.append(
            {
                "src": str(u),
                "dst": str(v),
                "strength": float(e["strength"]),
                "path": f"M{x1:.1f},{y1:.1f} C{x1:.1f},{my:.1f} {x2:.1f},{my:.1f} {x2:.1f},{y2:.1f}",
                "colour": "var(--pos)" if e["strength"] > 0 else "var(--neg)",
                "width": round(0.8 + 7.0 * abs(e["strength"]) / wmax, 2),
                "kernel": json.dumps(e.get("kernel") or []),
            }
        )
    edges.sort(key=lambda e: abs(e["strength"]))  # strongest drawn last, on top
    return {"width": width, "height": height, "nodes": nodes, "edges": edges}


def write_diagram(graph: nx.DiGraph, path: Union[str, os.PathLike], title: Optional[str] = None) -> Path:
    """Write the circuit diagram page to ``path`` (atomically)."""
    meta = dict(graph.graph)
    target = str(meta.get("target", "?"))
    label = graph.nodes[target].get("label") if target in graph else ""
    title = title or f"Circuit of {target}{f' ({label})' if label else ''} in {meta.get('model', '?')}"
    return write_page(
        path,
        "circuit.html.j2",
        title=title,
        meta=meta,
        lay=layout(graph),
        node_size=NODE,
        edges_table=sorted(layout_edges_table(graph), key=lambda r: -abs(r["strength"])),
        metrics=metrics_view(meta.get("metrics")),
    )


def _fmt(v, fmt: str = ".3f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and v != v) else format(v, fmt)


def metrics_view(metrics) -> dict:
    """The circuit metrics as display strings, and the faithfulness curve as SVG points."""
    if isinstance(metrics, str):  # a graph read back from GraphML/GEXF stores dicts as JSON text
        try:
            metrics = json.loads(metrics)
        except ValueError:
            metrics = None
    if not isinstance(metrics, dict) or metrics.get("status") != "computed":
        reason = metrics.get("reason", "") if isinstance(metrics, dict) else "no metrics in this graph"
        return {"computed": False, "reason": reason}
    null = metrics.get("null") or {}
    rows = []
    for name in ("faithfulness", "completeness"):
        s = null.get(name) or {}
        rows.append({"name": name, "value": _fmt(metrics.get(name)),
                     "null": f"{_fmt(s.get('mean'))} ± {_fmt(s.get('std'))}" if s else "not computed",
                     "z": _fmt(s.get("z"), ".1f") if s else "", "p": _fmt(s.get("p"), ".3g") if s else ""})
    layers = [f"{k}: {v['units']} of {v['of']}" for k, v in (metrics.get("layers") or {}).items()]
    view = {"computed": True, "rows": rows, "layers": layers, "units": metrics.get("units"),
            "share": _fmt(100 * (metrics.get("share_of_units") or 0), ".1f"), "n_images": metrics.get("n_images"),
            "selection": (metrics.get("images") or {}).get("selection", ""),
            "definition": metrics.get("definition", ""),
            "null_n": null.get("n", 0), "seed": null.get("seed", ""), "notes": metrics.get("notes") or [],
            "curve": None}
    curve = metrics.get("curve") or {}
    if curve.get("fractions"):
        w, h, pad = 260, 160, 28
        pts = [(f, v) for f, v in zip(curve["fractions"], curve["faithfulness"]) if v is not None]
        lo, hi = min([0.0] + [v for _, v in pts]), max([1.0] + [v for _, v in pts])
        sx = lambda f: pad + f * (w - 2 * pad)  # noqa: E731
        sy = lambda v: h - pad - (v - lo) / ((hi - lo) or 1) * (h - 2 * pad)  # noqa: E731
        view["curve"] = {"auc": _fmt(curve.get("auc")), "method": curve.get("method", ""),
                         "rank": curve.get("rank", ""), "width": w, "height": h,
                         "x0": sx(0), "x1": sx(1), "y0": sy(0), "y1": sy(1),
                         "points": " ".join(f"{sx(f):.1f},{sy(v):.1f}" for f, v in pts),
                         "table": [(f"{f:.0%}", _fmt(v)) for f, v in zip(curve["fractions"], curve["faithfulness"])]}
    return view


def layout_edges_table(graph: nx.DiGraph) -> list[dict]:
    return [{"src": str(u), "dst": str(v), "strength": float(e["strength"])} for u, v, e in graph.edges(data=True)]
