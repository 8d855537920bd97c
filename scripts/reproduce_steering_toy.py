"""Steering specificity on the toy zoo: does steering a primitive unit raise the classes built from
that primitive, and not the others? Writes results/steering_toy.json.

    python scripts/reproduce_steering_toy.py            # every toy model with weights, ~1-3 min on one thread
    python scripts/reproduce_steering_toy.py --quick    # 2 models, 32 images: a smoke test, not the published numbers
    python scripts/reproduce_steering_toy.py --tables   # print the doc's tables (measures nothing)

For every model, the units of its primitive layer with a primitive label: in the supervised wide
models each primitive's own channel (label built in by training), in the narrow and the
unsupervised models every unit labelled confidently (scene ROC AUC >= 0.85, label code of
visioncircuits.toyworld.labels on 1,000 labelling images: the detectors emerged). Only primitives
that are part of some class count (20 of 26). Each unit is steered (every position of the
16x16 map) at alpha = 0.25, 0.5 and 1 times its peak activation on 128 fresh toy scenes
(seed 777,000,000: neither training, labelling nor accuracy images), and the mean logit change
of the classes built from the unit's primitive ("own") is compared with that of the other
classes. Chance for "top gained class is own" is the mean share of own classes (own / 10).
One thread, deterministic kernels.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _common import command, markdown_table, print_marked_tables

from visioncircuits.results import RESULTS_DIR, Timer, deterministic, write_results

OUT = RESULTS_DIR / "steering_toy.json"
ALPHAS = (0.25, 0.5, 1.0)
SEED = 777_000_000
N_IMAGES, N_LABEL = 128, 1000
HEADLINE_ALPHA = 1.0


def measure(name: str, n_images: int, n_label: int) -> dict:
    from visioncircuits.circuits.expanded import ExpandedWeights
    from visioncircuits.interventions.steering_toy import own_classes, primitive_units, unit_specificity
    from visioncircuits.keys import LOGITS
    from visioncircuits.toyworld import generate
    from visioncircuits.zoo import load_model

    model = load_model(name)
    layer = model.spec.extra["primitive_layer"]
    size = int(model.spec.input_size)
    images = generate(n_images, seed=SEED, size=size).images
    rows = ExpandedWeights(model, size=size).compute(layer, LOGITS)
    units, how = primitive_units(model, layer, n_label)
    per_unit = [unit_specificity(model, f"{layer}:{ch}", prim, ALPHAS, images, rows=rows, batch_size=n_images)
                for ch, prim in units if own_classes(prim)]
    return {"layer": layer, "labels": how, "supervised": bool(model.spec.extra["supervised"]), "units": per_unit}


def summary_row(name: str, m: dict, alpha: float) -> list:
    us = m["units"]
    a = str(alpha)
    mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")  # noqa: E731
    from visioncircuits.toyworld import CLASSES

    return [
        name, m["labels"], len(us),
        round(mean([u["alphas"][a]["own_gain"] for u in us]), 2),
        round(mean([u["alphas"][a]["other_gain"] for u in us]), 2),
        round(mean([u["alphas"][a]["own_gain"] > u["alphas"][a]["other_gain"] for u in us]), 2),
        round(mean([u["alphas"][a]["top_gained_is_own"] for u in us]), 2),
        round(mean([len(u["own_classes"]) / len(CLASSES) for u in us]), 2),
        round(mean([u["alphas"][a]["became_own"] for u in us]), 2),
        round(mean([u["expanded_top_is_own"] for u in us]), 2),
    ]


COLUMNS = ["model", "labels", "units", "own-class logit gain", "other-class logit gain", "own > other",
           "top gained class is own",
           "chance", "top-1 becomes own class", "expanded weights predict own"]


def tables(values: dict) -> dict:
    models = values["models"]
    rows = [summary_row(n, m, HEADLINE_ALPHA) for n, m in models.items() if m["units"]]
    by_alpha = []
    for group, keep in (("supervised", True), ("unsupervised", False)):
        names = [n for n, m in models.items() if m["supervised"] == keep and m["units"]]
        if not names:
            continue
        for a in ALPHAS:
            rs = [summary_row(n, models[n], a) for n in names]
            mean = lambda j: round(sum(r[j] for r in rs) / len(rs), 2)  # noqa: E731,B023
            by_alpha.append([group, len(names), a, mean(3), mean(4), mean(5), mean(6), mean(7), mean(8)])
    return {
        "specificity": {"columns": COLUMNS, "rows": rows},
        "by_alpha": {"columns": ["zoo", "models", "alpha", "own-class logit gain", "other-class logit gain",
                                 "own > other", "top gained class is own", "chance", "top-1 becomes own class"],
                     "rows": by_alpha},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 models, 32 images, 300 labelling images (smoke test)")
    ap.add_argument("--tables", action="store_true", help="print the markdown tables of the results file and exit")
    ap.add_argument("--out", default=str(OUT), help="results file (default results/steering_toy.json)")
    args = ap.parse_args()
    if args.tables:
        print_marked_tables(args.out, ("specificity", "by_alpha"))
        return 0
    from visioncircuits.zoo import get_spec
    from visioncircuits.zoo.toy import toy_names

    names = [n for n in toy_names(True) + toy_names(False) if Path(get_spec(n).default_weights).exists()]
    n_images, n_label = N_IMAGES, N_LABEL
    if args.quick:
        names, n_images, n_label = ["toy-vgg-s0", "toy-vgg-u-s0"], 32, 300
    with Timer() as t, deterministic(threads=1):
        models = {n: measure(n, n_images, n_label) for n in names}
    t_ = tables({"models": models})
    values = {
        "models": models, "alphas": list(ALPHAS), "headline_alpha": HEADLINE_ALPHA, "n_images": n_images,
        "n_label": n_label, "seed": SEED, "quick": args.quick,
        "specificity": {"table": t_["specificity"]}, "by_alpha": {"table": t_["by_alpha"]},
    }
    write_results(args.out, values, command(), t, threads=1)
    print("\n".join(markdown_table(t_["specificity"])))
    print(f"{t.wall:.0f} s wall, {t.cpu:.0f} s CPU -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
