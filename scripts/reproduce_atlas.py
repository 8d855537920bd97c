"""Model atlas of mobilenet-v2 (`visioncircuits atlas mobilenet-v2 --quick` settings): build time
per unit and site size as the site grows from 4 to 8 to 16 units per layer (blocks.5 and blocks.9,
with the committed blocks.9 SAE: each unit's top latent gets a page), then the 8x8 activation
atlas of blocks.9 (UMAP). Photos: the first 150 of ../shared/data/imagenet-samples (read in place,
never copied). 96 px renders, 48 steps, 2 diverse renders and the negative per unit. One thread.
Each stage resumes the same site, so its time is the time of the units it adds.

    python scripts/reproduce_atlas.py               # ~15-30 min on one thread
    python scripts/reproduce_atlas.py --tables      # the README table from results/atlas.json
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from _common import REPO, command, sample_images

from visioncircuits.results import RESULTS_DIR, Timer, deterministic, write_results

OUT = RESULTS_DIR / "atlas.json"
STAGES = (4, 8, 16)
SAE = "models/sae/mobilenet-v2-blocks.9"
LAYERS = ("blocks.5", "blocks.9")


def site_mb(site: Path) -> float:
    return sum(f.stat().st_size for f in site.rglob("*") if f.is_file()) / 1e6


def tables(res: dict) -> str:
    v = res["values"]
    lines = ["| units per layer | unit pages (incl. SAE latents) | site size (MB) | CPU s per added unit "
             "| wall s per added unit |", "|---|---|---|---|---|"]
    for r in v["stages"]:
        lines.append(f"| {r['units_per_layer']} | {r['unit_pages']} | {r['size_mb']:.1f} | {r['cpu_per_unit']:.1f} "
                     f"| {r['wall_per_unit']:.1f} |")
    a = v["atlas"]
    lines += ["", "| layer | grid | filled cells | activation vectors | CPU s | wall s | site size after (MB) |",
              "|---|---|---|---|---|---|---|",
              f"| {a['layer']} | {a['grid']}x{a['grid']} | {a['cells']} | {a['n_vectors']} | {a['cpu_s']:.0f} "
              f"| {a['wall_s']:.0f} | {a['size_mb']:.1f} |"]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--site", default="/tmp/atlas-mobilenet-v2", help="site folder (kept for screenshots)")
    ap.add_argument("--tables", action="store_true", help="print the README table from results/atlas.json and exit")
    args = ap.parse_args()
    if args.tables:
        print(tables(json.loads(OUT.read_text())))
        return 0
    logging.basicConfig(level=logging.WARNING)
    from visioncircuits.atlas import AtlasConfig, build_atlas
    from visioncircuits.featvis.config import RenderConfig
    from visioncircuits.zoo import load_model

    site = Path(args.site)
    photos = sample_images()
    stages = []
    with Timer() as total, deterministic(threads=1):
        model = load_model("mobilenet-v2", device="cpu")
        base = AtlasConfig.quick(render=RenderConfig(steps=48, size=96, progress=False), layers=LAYERS,
                                 sae_latents=1, atlas_layers=())
        for n in STAGES:
            with Timer() as t:
                res = build_atlas(model, site, base.replace(units=f"0:{n}"), dataset=photos, saes=[str(REPO / SAE)])
            stages.append({"units_per_layer": n, "unit_pages": res.unit_pages, "added_units": res.rendered_units,
                           "cpu_s": round(t.cpu, 1), "wall_s": round(t.wall, 1),
                           "cpu_per_unit": round(t.cpu / max(1, res.rendered_units), 2),
                           "wall_per_unit": round(t.wall / max(1, res.rendered_units), 2),
                           "size_mb": round(site_mb(site), 2)})
            print(stages[-1], file=sys.stderr, flush=True)
        with Timer() as t:
            res = build_atlas(model, site, base.replace(units=f"0:{STAGES[-1]}", atlas_layers=("blocks.9",)),
                              dataset=photos, saes=[str(REPO / SAE)])
        meta = json.loads((site / "atlas" / "blocks.9" / "atlas.json").read_text())
        atlas = {"layer": "blocks.9", "grid": meta["grid"], "cells": len(meta["cells"]), "cpu_s": round(t.cpu, 1),
                 "wall_s": round(t.wall, 1), "size_mb": round(site_mb(site), 2), "n_vectors": meta["n_vectors"],
                 "n_photos": meta["n_photos"]}
    growth = (stages[-1]["size_mb"] - stages[0]["size_mb"]) / (stages[-1]["unit_pages"] - stages[0]["unit_pages"])
    table = {"columns": ["units per layer", "unit pages (incl. SAE latents)", "site size (MB)",
                         "CPU s per added unit", "wall s per added unit"],
             "rows": [[r["units_per_layer"], r["unit_pages"], r["size_mb"], r["cpu_per_unit"], r["wall_per_unit"]]
                      for r in stages]}
    atlas_table = {"columns": ["layer", "grid", "filled cells", "activation vectors", "CPU s", "wall s",
                               "site size after (MB)"],
                   "rows": [[atlas["layer"], f"{atlas['grid']}x{atlas['grid']}", atlas["cells"], atlas["n_vectors"],
                             atlas["cpu_s"], atlas["wall_s"], atlas["size_mb"]]]}
    write_results(OUT, {"stages": stages, "atlas": atlas, "mb_per_unit_page": round(growth, 3), "table": table,
                        "atlas_table": atlas_table,
                        "settings": {"layers": list(LAYERS), "size": 96, "steps": 48, "diverse": 2, "negative": True,
                                     "k": 4, "photos": 150, "grid": 8, "sae": SAE}},
                  command(), total, threads=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
