"""Circuit metrics on the toy zoo: which circuit method finds the units that carry a class logit?

For every toy model with weights on disk (supervised and unsupervised) and every class logit,
the units of the two main layers below the logits are ranked by four methods: net expanded
weights (data-free), activation x gradient, integrated gradients (16 steps, black baseline)
and attribution patching (class images patched with reference images), each on 16 generated
images of the class. Ranked by signed score ("positive": units that push the logit up first).
Faithfulness and completeness are measured with mean ablation (means over 200 balanced
reference images) on 16 *other* images of the class:

    faithfulness = (m(circuit) - m(empty)) / (m(full) - m(empty))
    completeness = (m(full) - m(full minus circuit)) / (m(full) - m(empty))

The faithfulness curve keeps the top 0 %, 10 %, ..., 100 % of each layer's units; its area
(AUC) compares the methods. At 10 % (floor per layer: at most 10 % of the spanned units) the
circuit's faithfulness and completeness are compared with 100 random circuits of the same
size per layer (z-scores), and the aim "faithfulness >= 0.8 with <= 10 % of the units" is
checked per class. One thread, deterministic kernels.

    python scripts/reproduce_circuit_faithfulness.py            # ~5-10 min CPU (13 models) on one thread
    python scripts/reproduce_circuit_faithfulness.py --quick    # one model, 3 classes, 20 random circuits
    python scripts/reproduce_circuit_faithfulness.py --tables   # print the docs' tables from the results file
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path

from _common import REPO, command

from visioncircuits.circuits.toy_faithfulness import (
    AIM,
    DEPTH,
    FRACTIONS,
    HELD_SEED,
    LABELS,
    METHODS,
    N_HELD,
    N_NULL,
    N_REF,
    N_SCORE,
    NULL_SEED,
    RANK,
    REF_SEED,
    SCORE_SEED,
    SMALL,
    measure_model,
    toy_images,
)
from visioncircuits.results import RESULTS_DIR, Timer, deterministic, write_results


def _median(xs: list):
    """Median of shares (None, a share never reached, counts as 1.0: the full model)."""
    xs = sorted(1.0 if x is None else x for x in xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def summarise(per_model: dict) -> dict:
    """The docs' tables: AUC per model and method; the 10 % circuit of the best method vs the aim."""
    def mean(xs):
        xs = [x for x in xs if x is not None and math.isfinite(x)]
        return sum(xs) / len(xs) if xs else None

    auc_rows, small_rows = [], []
    for m, res in per_model.items():
        cl = res["classes"].values()
        aucs = {meth: mean([r["methods"][meth]["auc"] for r in cl]) for meth in METHODS}
        best = max(METHODS, key=lambda meth: aucs[meth] if aucs[meth] is not None else -1e9)
        auc_rows.append([m, *[aucs[meth] for meth in METHODS], LABELS[best]])
        kept = sum(res["small_circuit"].values())
        total = sum(res["units"].values())
        b = [r["methods"][best] for r in cl]
        small_rows.append([
            m, f"{kept} / {total}", LABELS[best], mean([x["faithfulness"] for x in b]),
            mean([x["completeness"] for x in b]), mean([x["z_faithfulness"] for x in b]),
            mean([x["z_completeness"] for x in b]),
            f"{sum(x['faithfulness'] >= AIM for x in b)} / {len(b)}",
            _median([x["fraction_for_aim"] for x in b]),
        ])
    overall = {meth: mean([r[1 + i] for r in auc_rows]) for i, meth in enumerate(METHODS)}
    auc_rows.append([f"mean of {len(per_model)} models", *[overall[meth] for meth in METHODS],
                     LABELS[max(METHODS, key=lambda meth: overall[meth] or -1e9)]])
    met = sum(int(r[-2].split(" / ")[0]) for r in small_rows)
    n = sum(int(r[-2].split(" / ")[1]) for r in small_rows)
    return {
        "auc_table": {"columns": ["model", *[LABELS[m] for m in METHODS], "best"],
                      "format": [None] + [".2f"] * len(METHODS) + [None], "rows": auc_rows},
        "small_table": {"columns": ["model", "units kept", "best method", "faithfulness", "completeness",
                                    "z (faithfulness)", "z (completeness)", "classes with faithfulness >= 0.8",
                                    "units for 0.8 (median share)"],
                        "format": [None, None, None, ".2f", ".2f", ".1f", ".1f", None, ".0%"], "rows": small_rows},
        "mean_auc": overall,
        "aim_met": met,
        "aim_total": n,
    }


def _cell(v, fmt) -> str:
    if v is None:
        return "-"
    return format(v, fmt) if fmt else str(v)


def tables(res: dict) -> str:
    """The docs' markdown tables, from a results file (printed, never re-measured)."""
    v = res["values"]
    out = []
    for key in ("auc_table", "small_table"):
        t = v[key]
        out.append("| " + " | ".join(t["columns"]) + " |")
        out.append("|" + "---|" * len(t["columns"]))
        out += ["| " + " | ".join(_cell(x, f) for x, f in zip(r, t["format"])) + " |" for r in t["rows"]]
        out.append("")
    out.append(f"Aim (faithfulness >= 0.8 with <= 10 % of the units, best method): met for {v['aim_met']} of "
               f"{v['aim_total']} class circuits.")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(RESULTS_DIR / "circuit_faithfulness.json"))
    ap.add_argument("--quick", action="store_true", help="one model, 3 classes, 20 random circuits (a smoke test)")
    ap.add_argument("--tables", action="store_true", help="print the docs' tables from --out and exit (no measuring)")
    ap.add_argument("--only", default=None, help="comma-separated model names (default: every toy model with weights)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.tables:
        print(tables(json.loads(out.read_text())))
        return 0
    logging.basicConfig(level=logging.WARNING)
    from visioncircuits.toyworld import CLASSES
    from visioncircuits.zoo import get_spec
    from visioncircuits.zoo.toy import toy_names

    names = [n for n in toy_names() + toy_names(supervised=False) if Path(get_spec(n).default_weights).exists()]
    if args.only:
        names = [n.strip() for n in args.only.split(",")]
    classes = list(range(len(CLASSES)))
    n_null = N_NULL
    if args.quick:
        names, classes, n_null = names[:1], classes[:3], 20
    per_model, cpu = {}, {}
    with Timer() as t, deterministic(threads=1):
        data = toy_images(len(CLASSES), args.quick)
        for name in names:
            with Timer() as tm:
                per_model[name] = measure_model(name, data, classes, n_null)
            cpu[name] = round(tm.cpu, 1)
    values = {
        "settings": {"methods": list(METHODS), "rank": RANK, "depth": DEPTH, "n_reference": N_REF,
                     "n_score": N_SCORE, "n_held_out": N_HELD, "n_null": n_null, "fractions": list(FRACTIONS),
                     "small": SMALL, "aim": AIM, "seeds": [REF_SEED, SCORE_SEED, HELD_SEED, NULL_SEED],
                     "quick": args.quick},
        "models": per_model,
        "cpu_seconds_per_model": cpu,
        **summarise(per_model),
    }
    write_results(out if out.is_absolute() else REPO / out, values, command(), t, threads=1)
    print(tables({"values": values}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
