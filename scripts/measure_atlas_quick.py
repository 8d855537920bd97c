"""How long `visioncircuits atlas mobilenet-v2 --quick` takes, stage by stage, and what it builds.

Runs the command exactly as a user would (a child process, default threads, the default photo
folder ../shared/data/imagenet-samples read in place) into a fresh temporary site, then runs it
again on the finished site (a resume: nothing to render, pages rebuilt). Writes
results/atlas_quick.json: wall and CPU seconds (user + sys of the child, all threads), the load
average before and after (on a shared machine the wall time grows with the load, the CPU time
much less), the per-stage wall/CPU seconds the site records in build.json, the number of unit
pages, atlas cells and the site's size.

    python scripts/measure_atlas_quick.py            # ~4-15 min, depending on the machine's load
    python scripts/measure_atlas_quick.py --tables   # print the docs' table, measure nothing
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import command

from visioncircuits.results import RESULTS_DIR, Timer, write_results

OUT = RESULTS_DIR / "atlas_quick.json"
CMD = ["atlas", "mobilenet-v2", "--quick", "--quiet"]


def run_once(site: Path) -> dict:
    """One run of the command into ``site``: wall/CPU seconds, load and what build.json records."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "visioncircuits", *CMD, "--out", str(site)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"error: the atlas command failed: {proc.stderr.strip().splitlines()[-1:]}")
    build = json.loads((site / "build.json").read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1), "load_average_before": round(load0, 1),
            "load_average_after": round(os.getloadavg()[0], 1), "rendered_units": build["rendered_units"],
            "rendered_cells": build["rendered_cells"], "unit_pages": build["unit_pages"], "stages": build["stages"]}


def tables(doc: dict) -> str:
    v = doc["values"]
    rows = ["| run | wall s | CPU s (all threads) | load before / after | units rendered | atlas cells rendered "
            "| unit pages |", "|---|---|---|---|---|---|---|"]
    for name in ("first", "rerun"):
        r = v[name]
        rows.append(f"| {name} | {r['wall_seconds']:.0f} | {r['cpu_seconds']:.0f} | {r['load_average_before']} / "
                    f"{r['load_average_after']} | {r['rendered_units']} | {r['rendered_cells']} | {r['unit_pages']} |")
    rows += ["", "| stage of the first run | wall s | CPU s (main process) |", "|---|---|---|"]
    for name, st in v["first"]["stages"].items():
        rows.append(f"| {name} | {st['wall_s']:.0f} | {st['cpu_s']:.0f} |")
    rows += ["", f"Site: {v['site_mb']:.1f} MB in {v['files']} files, layers {', '.join(v['layers'])}."]
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--tables", action="store_true")
    args = ap.parse_args()
    if args.tables:
        print(tables(json.loads(Path(args.out).read_text())))
        return 0
    with Timer() as timer, tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        first = run_once(site)
        rerun = run_once(site)
        files = [f for f in site.rglob("*") if f.is_file()]
        layers = json.loads((site / "build.json").read_text())["layers"]
        values = {"command": "visioncircuits " + " ".join(CMD) + " --out SITE", "first": first, "rerun": rerun,
                  "site_mb": round(sum(f.stat().st_size for f in files) / 1e6, 2), "files": len(files),
                  "layers": layers}
    write_results(Path(args.out), values, command(), timer=timer)
    print(tables(json.loads(Path(args.out).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
