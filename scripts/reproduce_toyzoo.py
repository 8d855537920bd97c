"""The toy zoo's held-out accuracy (2,000 fresh images from a seed no training run uses, as
`visioncircuits toyworld eval MODEL --n 2000`) for every committed toy model, next to the CPU
time its training took as recorded in its card (`models/toy/<name>.json`, written by
`visioncircuits toyworld train ARCH --seed S --threads 1`). One thread.

    python scripts/reproduce_toyzoo.py            # ~30-60 s on one thread
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from _common import command
from visioncircuits.results import RESULTS_DIR, Timer, deterministic, write_results


def main() -> int:
    from visioncircuits.toyworld.evaluate import accuracy
    from visioncircuits.zoo import get_spec, load_model
    from visioncircuits.zoo.toy import toy_names

    rows = {}
    with Timer() as t, deterministic(threads=1):
        for name in toy_names():
            spec = get_spec(name)
            if not Path(spec.default_weights).exists():
                continue
            card = json.loads(Path(spec.default_weights).with_suffix(".json").read_text())
            rows[name] = {"accuracy": accuracy(load_model(name), n=2000), "card_accuracy": card.get("accuracy"),
                          "train_cpu_seconds": card.get("cpu_seconds"), "train_wall_seconds": card.get("train_seconds"),
                          "steps": card.get("steps"), "batch": card.get("batch"), "threads": card.get("threads")}
    table = {"columns": ["model", "held-out accuracy (2,000 fresh images)", "CPU time to train (s)"],
             "rows": [[name, 100 * r["accuracy"], r["train_cpu_seconds"]] for name, r in rows.items()]}
    write_results(RESULTS_DIR / "toyzoo.json", {"models": rows, "table": table}, command(), t, threads=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
