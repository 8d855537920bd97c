"""The data of one unit page: a gallery record turned into root-relative links, the
histogram as SVG bars, and the small circuit neighbourhood diagram laid out in Python."""
from __future__ import annotations

import json
from typing import Optional

from visioncircuits.atlas.photos import photo_class
from visioncircuits.utils import slug

NODE, GAP, ROW = 56, 30, 120  # diagram node size, gap between nodes, row pitch (px)


def unit_href(address: str) -> str:
    """The unit's page, relative to the site root."""
    return f"units/{slug(address, max_len=120, default='unit')}.html"


def unit_info(rec: dict, gallery_rel: str, kind: str, label: str, extra: Optional[dict]) -> dict:
    """Everything a card or page shows about one finished unit (paths relative to the site root)."""

    def p(rel):
        return f"{gallery_rel}/{rel}" if rel else None

    udir = f"{gallery_rel}/units/{slug(rec['unit'], max_len=120, default='unit')}"
    overlays = (extra or {}).get("overlays", {})
    examples = [{"crop": p(e.get("crop")), "overlay": f"{udir}/{overlays[str(r)]}" if str(r) in overlays else None,
                 "name": e.get("name", ""), "cls": photo_class(e.get("name", "")) or "", "value": e.get("value")}
                for r, e in enumerate(rec.get("examples", []))]
    return {"address": rec["unit"], "index": int(rec.get("index", 0)), "kind": kind, "label": label or "",
            "href": unit_href(rec["unit"]), "vis": p(rec.get("vis")), "negative": p(rec.get("negative")),
            "negative_value": rec.get("negative_value"), "diverse": [p(d) for d in rec.get("diverse", [])],
            "value": rec.get("value"), "examples": examples, "stats": rec.get("stats") or {},
            "render_peak": rec.get("render_peak"), "best_example": rec.get("best_example"),
            "hist": histogram_bars((extra or {}).get("histogram")),
            "classes": [e["cls"] for e in examples if e["cls"]]}


def histogram_bars(h: Optional[dict], width: int = 260, height: int = 70) -> Optional[dict]:
    if not h or not h.get("counts"):
        return None
    counts = h["counts"]
    top = max(counts) or 1
    bw = width / len(counts)
    bars = [{"x": round(i * bw, 2), "w": round(bw - 1, 2), "h": round(height * c / top, 2),
             "y": round(height - height * c / top, 2), "c": c} for i, c in enumerate(counts)]
    return {"width": width, "height": height, "bars": bars, "lo": h["lo"], "hi": h["hi"], "n": sum(counts)}


def edge_rows(edges: list, infos: dict) -> list:
    """Neighbour edges with the link and thumbnail of neighbours that have a page."""
    rows = []
    for e in edges:
        info = infos.get(e["unit"])
        rows.append({"unit": e["unit"], "strength": e["strength"], "kernel": json.dumps(e.get("kernel") or []),
                     "href": info["href"] if info else None, "vis": info["vis"] if info else None,
                     "label": info["label"] if info else ""})
    return rows


def diagram(address: str, vis: Optional[str], up: list, down: list) -> dict:
    """Three rows: downstream units on top, the unit, upstream units below; edge width by |strength|."""
    rows = [down, [{"unit": address, "vis": vis, "href": None, "strength": 0.0, "kernel": "[]"}], up]
    top = 0 if down else 1  # no empty first row
    widest = max(1, *(len(r) for r in rows))
    width = widest * NODE + (widest - 1) * GAP + 2 * GAP
    nodes, pos = [], {}
    for depth, row in enumerate(rows):
        x0 = (width - (len(row) * NODE + (len(row) - 1) * GAP)) / 2
        for i, n in enumerate(row):
            x, y = x0 + i * (NODE + GAP), GAP + (depth - top) * ROW
            pos[(depth, i)] = (x, y)
            nodes.append({**n, "x": round(x, 1), "y": round(y, 1), "centre": depth == 1,
                          "short": n["unit"].rsplit(".", 1)[-1][-12:]})
    wmax = max([abs(n["strength"]) for n in up + down] + [1e-12])
    cx, cy = pos[(1, 0)]
    edges = []
    for depth, row in ((0, down), (2, up)):
        for i, n in enumerate(row):
            x, y = pos[(depth, i)]
            lo_x, lo_y, hi_x, hi_y = (cx, cy, x, y) if depth == 0 else (x, y, cx, cy)  # lower node -> upper node
            y1, y2 = lo_y, hi_y + NODE + 14
            x1, x2 = lo_x + NODE / 2, hi_x + NODE / 2
            my = (y1 + y2) / 2
            edges.append({"path": f"M{x1:.1f},{y1:.1f} C{x1:.1f},{my:.1f} {x2:.1f},{my:.1f} {x2:.1f},{y2:.1f}",
                          "colour": "var(--pos)" if n["strength"] > 0 else "var(--neg)",
                          "width": round(0.8 + 6 * abs(n["strength"]) / wmax, 2), "kernel": n["kernel"],
                          "src": n["unit"] if depth == 2 else address, "dst": address if depth == 2 else n["unit"],
                          "strength": n["strength"]})
    n_rows = sum(1 for r in rows if r)
    return {"width": width, "height": GAP * 2 + (n_rows - 1) * ROW + NODE + 14, "nodes": nodes, "edges": edges,
            "node": NODE}
