"""How long the full demo takes: wall and CPU time, per stage, without and with photos.

Runs `visioncircuits demo --out TMP` (and `--dataset ../shared/data/imagenet-samples`) as child
processes and writes results/demo_runtime.json: wall seconds, CPU seconds (user + sys of the
child, all threads), the load average before and after, and each stage's wall and CPU seconds
from the demo's own demo.json. Why CPU time matters: on a shared machine the wall time grows
with the other jobs' load, while a CPU-bound run on an idle machine takes at most its CPU time
in wall time (plus file I/O); both are recorded.

    python scripts/measure_demo_runtime.py                 # both variants, ~10-30 min
    python scripts/measure_demo_runtime.py --variants none # without photos only
    python scripts/measure_demo_runtime.py --tables        # print the docs' table, measure nothing
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

from _common import command, sample_images

from visioncircuits.results import RESULTS_DIR, Timer, write_results

OUT = RESULTS_DIR / "demo_runtime.json"
BUDGET_S = 600  # issue 11: the whole demo within 10 minutes on 2 cores


def run_variant(name: str, dataset: Path | None) -> dict:
    """One full demo run in a child process; its wall/CPU time and per-stage times."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "visioncircuits", "demo", "--out", tmp]
        if dataset is not None:
            cmd += ["--dataset", str(dataset)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            sys.exit(f"error: the demo ({name}) failed: {proc.stderr.strip().splitlines()[-1:]}")
        stages = json.loads((Path(tmp) / "demo.json").read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "variant": name,
        "dataset": str(dataset) if dataset else None,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "load_average_before": round(load0, 1),
        "load_average_after": round(os.getloadavg()[0], 1),
        "within_budget_wall": wall <= BUDGET_S,
        "within_budget_cpu": cpu <= BUDGET_S,
        "stages": [
            {"name": s["name"], "seconds": round(s["seconds"], 1), "cpu_seconds": s["cpu_seconds"]} for s in stages
        ],
    }


def tables(doc: dict) -> str:
    rows = [
        "| demo run | wall s | CPU s (all threads) | load average before / after | slowest stage (wall s / CPU s) |",
        "|---|---|---|---|---|",
    ]
    for v in doc["values"]["variants"]:
        slow = max(v["stages"], key=lambda s: s["seconds"])
        rows.append(
            f"| {v['variant']} | {v['wall_seconds']:.0f} | {v['cpu_seconds']:.0f} | "
            f"{v['load_average_before']} / {v['load_average_after']} | "
            f"{slow['name']} ({slow['seconds']:.0f} / {slow['cpu_seconds']:.0f}) |"
        )
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="+", choices=["none", "photos"], default=["none", "photos"])
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--tables", action="store_true")
    args = ap.parse_args()
    if args.tables:
        print(tables(json.loads(Path(args.out).read_text())))
        return 0
    out = Path(args.out)
    done = {}
    if out.exists():  # variants measured before (by an earlier, possibly killed, run) are kept
        done = {v["variant"]: v for v in json.loads(out.read_text())["values"]["variants"]}
    for name in args.variants:  # each variant is written as soon as it is measured
        with Timer() as timer:
            done[name] = run_variant(name, sample_images() if name == "photos" else None)
        variants = [done[v] for v in ("none", "photos") if v in done]
        write_results(out, {"budget_seconds": BUDGET_S, "variants": variants}, command(), timer=timer)
    print(tables(json.loads(Path(args.out).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
