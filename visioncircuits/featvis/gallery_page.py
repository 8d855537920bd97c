"""``index.html`` for a gallery folder, from its ``gallery.json``: one card per unit.

Autoescaped Jinja2 (unit names, notes and file names can hold anything); images are
embedded as data URIs (one file that works offline anywhere) or linked by relative path.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Union

from visioncircuits.report import data_uri, write_page


def write_gallery_page(out: Union[str, os.PathLike], *, embed_images: bool = True, title: str = "") -> Path:
    """Write ``out/index.html`` from ``out/gallery.json``."""
    out = Path(out)
    manifest = json.loads((out / "gallery.json").read_text())

    def src(rel):
        if not rel:
            return None
        return data_uri(out / rel) if embed_images else rel

    cards = []
    for u in manifest["units"]:
        cards.append({
            "unit": u["unit"], "note": u.get("note"), "value": u.get("value"), "vis": src(u.get("vis")),
            "negative": src(u.get("negative")), "negative_value": u.get("negative_value"),
            "diverse": [src(d) for d in u.get("diverse", [])],
            "examples": [{"src": src(e.get("crop")), "name": e.get("name", ""), "value": e.get("value")}
                         for e in u.get("examples", [])],
            "stats": u.get("stats") or {}, "dataset": u.get("dataset"),
            "measure": u.get("measure"), "render_peak": u.get("render_peak"), "best_example": u.get("best_example"),
            "beats": u.get("beats_dataset"),
        })
    ds = next((c["dataset"] for c in cards if c["dataset"]), None)
    return write_page(out / "index.html", "gallery.html.j2", title=title or f"{manifest['model']} {manifest['layer']}",
                      model=manifest["model"], layer=manifest["layer"], settings=manifest["settings"], cards=cards,
                      dataset=ds, beating=manifest.get("render_beats_dataset"))
