"""The main job, `visioncircuits demo --out DIR`, timed: wall and CPU seconds per stage and in
total, and the headline metrics each stage printed (from DIR/demo.json). Runs the demo as the
command does (its stages fix their own thread counts).

    python scripts/reproduce_demo.py [DIR]           # the whole demo: ~1-5 min depending on load
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from _common import command
from visioncircuits.results import RESULTS_DIR, Timer, write_results


def main(out: str | None = None) -> int:
    from visioncircuits.demo import run_demo

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(out or tmp)
        with Timer() as t:
            run_demo(folder, device="cpu")
        stages = json.loads((folder / "demo.json").read_text())
    values = {"stages": {s["name"]: {"seconds": round(s["seconds"], 1), "error": s["error"],
                                     "metrics": [a["metrics"] for a in s["artefacts"]]} for s in stages},
              "total_wall_seconds": round(t.wall, 1), "total_cpu_seconds": round(t.cpu, 1)}
    write_results(RESULTS_DIR / "demo.json", values, command(), t)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
