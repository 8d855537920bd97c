"""Interventions on the toy zoo, against ground truth. For every toy model with weights in models/toy/:

1. ablation specificity: per class, mean-ablate the primitive-layer units labelled with the class's
   own primitives vs as many units labelled with other primitives (5 random draws), and measure
   the drop of the class logit on 64 generated images of the class (means over 256 other images).
   Labels: by construction for the supervised wide models, emerged (best scene AUC on 1,000
   labelling images) for the unsupervised and narrow ones. Baselines: the same models at their
   random initial weights, with the same kind of labels.
2. attribution vs activation patching: toy pairs differing in one class part (the same scene with
   and without it), 16 pairs per part; Spearman rank correlation over the primitive-layer units
   between the attribution-patching estimate and the true patching effect on the class logit,
   and whether the unit with the largest true (or estimated) drop carries a removed primitive.

One thread, deterministic kernels. Resumable: finished models are kept in
results/interventions_toy.partial.json until the run completes (their time is then not counted).

    python scripts/reproduce_interventions_toy.py            # all models, a few minutes on one thread
    python scripts/reproduce_interventions_toy.py --quick    # two models, small sets, prints only
    python scripts/reproduce_interventions_toy.py --tables   # print the markdown tables of the results file
    python scripts/reproduce_interventions_toy.py --retable  # rebuild those tables from the stored per-model data
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _common import command

from visioncircuits.atomic import write_json
from visioncircuits.results import RESULTS_DIR, Timer, deterministic, write_results

OUT = RESULTS_DIR / "interventions_toy.json"
SEED, PAIR_SEED = 777_000_000, 778_000_000
FULL = {"n_per_class": 64, "n_reference": 256, "draws": 5, "n_pairs": 16, "n_label": 1000}
QUICK = {"n_per_class": 16, "n_reference": 64, "draws": 2, "n_pairs": 4, "n_label": 300}


def measure(name: str, s: dict, random_init: bool = False, patching: bool = True) -> dict:
    from visioncircuits.interventions.toy_patching import patching_agreement, summarise_pairs
    from visioncircuits.interventions.toy_specificity import ablation_specificity, primitive_labels, summarise
    from visioncircuits.zoo import load_model

    model = load_model(name, weights="random" if random_init else None)
    layer = model.spec.extra["primitive_layer"]
    labels, source = primitive_labels(model, layer, n_label=s["n_label"])
    spec = ablation_specificity(model, layer, labels, s["n_per_class"], s["n_reference"], s["draws"], SEED)
    out = {"layer": layer, "labels": labels, "label_source": source, "specificity": summarise(spec)}
    if patching:
        out["patching"] = summarise_pairs(patching_agreement(model, layer, labels, s["n_pairs"], PAIR_SEED))
    return out


def load_partial(path, settings: dict) -> dict:
    """Models finished by an interrupted run with the same settings (their runtime is not in the timer)."""
    if path is None or not path.exists():
        return {}
    data = json.loads(path.read_text())
    return data["models"] if data.get("settings") == settings else {}


def tables(per_model: dict) -> dict:
    from visioncircuits.toyworld import CLASSES

    spec_rows, class_rows, patch_rows = [], [], []
    for m, r in per_model.items():
        s = r["specificity"]
        spec_rows.append([m, r["label_source"], s["units_per_class"], s["drop_own"], s["drop_other"],
                          ratio(s["drop_own"], s["drop_other"]),
                          f"{s['classes_own_gt_other']}/{s['classes']}", s["acc_clean"], s["acc_own"], s["acc_other"]])
        by_cls = {c["cls"]: [c["drop_own"], c["drop_other"]] for c in s["per_class"]}
        class_rows.append([m, *[by_cls.get(c) for c in CLASSES]])
        if "patching" in r:
            p = r["patching"]
            patch_rows.append([m, r["label_source"], p["pairs"], p["spearman_mean"], p["spearman_min"],
                               p["top_true_hit"], p["top_estimate_hit"], p["chance"]])
    trained = [r["specificity"] for m, r in per_model.items() if "random" not in m]
    ranges = {k: [min(t[k] for t in trained), max(t[k] for t in trained)]
              for k in ("drop_own", "drop_other", "acc_clean", "acc_own", "acc_other")} if trained else {}
    return {
        "trained_ranges": ranges,  # [min, max] over the trained models (the docs' prose quotes them)
        "summary": summary(per_model),
        "specificity_table": {
            "columns": ["model", "labels", "own units per class", "drop, own units (SD)",
                        "drop, other units (SD)", "ratio", "classes own > other", "accuracy", "accuracy, own ablated",
                        "accuracy, other ablated"],
            "format": [None, None, ".1f", ".2f", ".2f", ".1f", None, ".2f", ".2f", ".2f"],
            "rows": spec_rows,
        },
        "specificity_per_class": {
            "columns": ["model", *CLASSES],
            "format": [None] + [".1f"] * len(CLASSES),
            "rows": class_rows,
        },
        "patching_table": {
            "columns": ["model", "labels", "class parts", "Spearman, mean", "Spearman, min", "top unit hit (true)",
                        "top unit hit (estimate)", "chance"],
            "format": [None, None, None, ".2f", ".2f", ".2f", ".2f", ".2f"],
            "rows": patch_rows,
        },
    }


def ratio(own: float, other: float):
    from visioncircuits.interventions.toy_specificity import ratio as _ratio

    return _ratio(own, other)


def summary(per_model: dict) -> dict:
    """Means over the supervised zoo, the unsupervised zoo and the random-init baselines."""
    import numpy as np

    groups = {
        "supervised": [m for m in per_model if "-u-" not in m and "random" not in m],
        "unsupervised": [m for m in per_model if "-u-" in m and "random" not in m],
        "random init": [m for m in per_model if "random" in m],
    }
    rows = []
    for group, ms in groups.items():
        if not ms:
            continue
        own = float(np.mean([per_model[m]["specificity"]["drop_own"] for m in ms]))
        other = float(np.mean([per_model[m]["specificity"]["drop_other"] for m in ms]))
        rhos = [per_model[m]["patching"]["spearman_mean"] for m in ms if "patching" in per_model[m]]
        hits = [per_model[m]["patching"]["top_true_hit"] for m in ms if "patching" in per_model[m]]
        chance = [per_model[m]["patching"]["chance"] for m in ms if "patching" in per_model[m]]
        rows.append([f"{group} ({len(ms)} models)", own, other, ratio(own, other),
                     float(np.mean(rhos)) if rhos else None, float(np.mean(hits)) if hits else None,
                     float(np.mean(chance)) if chance else None])
    return {
        "columns": ["toy models", "drop, own units (SD)", "drop, other units (SD)", "ratio",
                    "attribution vs patching, Spearman", "top unit hit", "chance"],
        "format": [None, ".2f", ".2f", ".1f", ".2f", ".2f", ".2f"],
        "rows": rows,
    }


def retable(path: Path) -> None:
    """Rebuild the tables of an existing results file from its per-model data (no measuring;
    command, runtimes and provenance kept)."""
    record = json.loads(path.read_text())
    for r in record["values"]["models"].values():
        r["specificity"]["ratio"] = ratio(r["specificity"]["drop_own"], r["specificity"]["drop_other"])
    record["values"].update(tables(record["values"]["models"]))
    write_json(path, record)


def markdown(table: dict) -> str:
    def cell(v, f):
        if v is None:
            return "-"
        if isinstance(v, list):
            return " / ".join(format(x, f) if f else str(x) for x in v)
        return format(v, f) if f and not isinstance(v, str) else str(v)

    cols, fmts = table["columns"], table.get("format") or [None] * len(table["columns"])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v, f) for v, f in zip(row, fmts)) + " |" for row in table["rows"]]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="two models, small sets; print, write only with --out")
    ap.add_argument("--tables", action="store_true", help="print the markdown tables of the results file and exit")
    ap.add_argument("--out", type=Path, default=None, help=f"results file (default {OUT.relative_to(OUT.parents[1])})")
    ap.add_argument("--retable", action="store_true",
                    help="rebuild the tables of the results file from its per-model data, no measuring")
    args = ap.parse_args()
    if args.retable:
        retable(args.out or OUT)
        return 0
    if args.tables:
        path = args.out or OUT
        if not path.exists():
            ap.error(f"no results file {path}: run the script without --tables first")
        values = json.loads(path.read_text())["values"]
        for key in ("summary", "specificity_table", "specificity_per_class", "patching_table"):
            print(f"<!-- results: results/{path.name} {key} -->\n{markdown(values[key])}\n")
        return 0

    from visioncircuits.zoo import get_spec
    from visioncircuits.zoo.toy import toy_names

    s = QUICK if args.quick else FULL
    names = [n for n in toy_names() + toy_names(supervised=False) if Path(get_spec(n).default_weights).exists()]
    if args.quick:
        names = [n for n in names if n in ("toy-vgg-s0", "toy-vgg-u-s0")]
    baselines = [n for n in names if n.endswith("-s0") and "narrow" not in n]
    out = args.out if args.out is not None else (None if args.quick else OUT)
    partial = out.with_suffix(".partial.json") if out is not None else None
    per_model = load_partial(partial, s)
    resumed = sorted(per_model)
    jobs = [(n, n, False) for n in names] + [(f"{n} (random init)", n, True) for n in baselines]
    with Timer() as t, deterministic(threads=1):
        for key, name, random_init in jobs:
            if key not in per_model:
                per_model[key] = measure(name, s, random_init=random_init, patching=not random_init)
                if partial is not None:
                    write_json(partial, {"settings": s, "models": per_model})
    per_model = {key: per_model[key] for key, _, _ in jobs}
    values = {"models": per_model, **tables(per_model), "settings": s, "seeds": [SEED, PAIR_SEED],
              "resumed_models": resumed}
    if out is not None:
        write_results(out, values, command(), t, threads=1)
        if partial is not None and partial.exists():
            partial.unlink()
    for key in ("specificity_table", "patching_table"):
        print(markdown(values[key]) + "\n")
    print(f"{t.wall:.0f} s wall, {t.cpu:.0f} s CPU" + (f"; wrote {out}" if out else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
