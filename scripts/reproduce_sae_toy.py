"""Demo stage 20 (SAE latents vs neurons on the superposition toy model `toy-narrow-s0`) at the
demo's full settings for demo seeds 0, 1 and 2: per seed, the share of the 26 primitives with
a latent / a neuron at AUC >= 0.95 and the mean best AUCs, on isolated-primitive probes and on
full scenes, plus the SAE's reconstruction metrics; then the mean and spread over seeds. (The stage's
latent gallery is skipped: it renders pictures and changes no number.) The
stage runs on one thread with deterministic kernels, so a seed gives the same numbers on any
machine.

    python scripts/reproduce_sae_toy.py            # ~1-2 min per seed on one thread
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

from _common import command, parse_no_options

from visioncircuits.results import RESULTS_DIR, Timer, write_results

SEEDS = (0, 1, 2)
KEEP = ("latents_recovered", "neurons_recovered", "mean_best_latent_auc", "mean_best_neuron_auc")


def main() -> int:
    parse_no_options(__doc__)
    from visioncircuits.demo import DemoContext, stage_20_sae

    stage_20_sae._gallery = lambda *a, **k: None  # the latent gallery is a picture, not a number: skipped here
    per_seed = {}
    with Timer() as t:
        for seed in SEEDS:
            with tempfile.TemporaryDirectory() as out, Timer() as ts:
                stage_20_sae.run(DemoContext(out=Path(out), seed=seed, device="cpu"))
                rec = json.loads((Path(out) / "sae" / "recovery.json").read_text())
            m = rec["metrics"]
            per_seed[str(seed)] = {
                "isolated": {k: rec["summary"][k] for k in KEEP},
                "scenes": {k: rec["scenes_summary"][k] for k in KEEP},
                "rows": rec["rows"],
                "metrics": {
                    k: m[k] for k in ("explained_variance", "nmse", "l0", "dead_fraction", "loss_recovered") if k in m
                },
                "seconds": round(ts.wall, 1),
                "cpu_seconds": round(ts.cpu, 1),
            }
    spread: dict = {}
    for probe in ("isolated", "scenes"):
        for k in KEEP:
            xs = [per_seed[str(s)][probe][k] for s in SEEDS]
            spread.setdefault(probe, {})[k] = {
                "mean": statistics.mean(xs),
                "sd": statistics.stdev(xs),
                "min": min(xs),
                "max": max(xs),
            }
    table = {
        "columns": [
            "demo seed",
            "probe set",
            "primitives with a latent at AUC ≥ 0.95",
            "with a neuron at AUC ≥ 0.95",
            "mean best latent AUC",
            "mean best neuron AUC",
        ],
        "format": [None, None, ".0f", ".0f", ".3f", ".3f"],
        "rows": [
            [
                str(s),
                probe,
                100 * per_seed[str(s)][probe]["latents_recovered"],
                100 * per_seed[str(s)][probe]["neurons_recovered"],
                per_seed[str(s)][probe]["mean_best_latent_auc"],
                per_seed[str(s)][probe]["mean_best_neuron_auc"],
            ]
            for probe in ("isolated", "scenes")
            for s in SEEDS
        ],
    }
    write_results(
        RESULTS_DIR / "sae_toy.json", {"seeds": per_seed, "over_seeds": spread, "table": table}, command(), t, threads=1
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
