"""Toy-zoo class circuits vs ground truth: precision@k of the primitive-layer units with the
strongest excitatory influence on each class logit, for every toy model with weights on disk
and both methods (net expanded weights, data-free; activation x gradient on 64 generated
images per class). Labels: best scene AUC on 1,000 labelling images (seed LABEL_SEED), the
same as demo stage 30. One thread, deterministic kernels.

    python scripts/reproduce_circuits_toy.py            # ~1-3 min (7 models) on one thread
"""

from __future__ import annotations

import sys
from pathlib import Path

from _common import command, parse_no_options

from visioncircuits.results import RESULTS_DIR, Timer, deterministic, write_results

KS = (1, 2, 3, "auto")
METHODS = ("weights", "attribution")
N_LABEL, N_IMAGES = 1000, 64


def measure(name: str) -> dict:
    """{method: {k: ToyPrecision row}} for one toy model, with the library's own functions."""
    from visioncircuits.circuits.toy import class_scores, precision_at_k
    from visioncircuits.toyworld.labels import label_units
    from visioncircuits.zoo import load_model

    model = load_model(name)
    layer = model.spec.extra["primitive_layer"]
    best = [x.primitive for x in label_units(model, layer, n=N_LABEL)]
    out = {"layer": layer, "labels": best}
    for method in METHODS:
        scores = class_scores(model, layer, method, n_images=N_IMAGES)
        out[method] = {str(k): precision_at_k(scores, best, k, layer, name, method).as_row() for k in KS}
    return out


def main() -> int:
    parse_no_options(__doc__)
    from visioncircuits.zoo import get_spec
    from visioncircuits.zoo.toy import toy_names

    names = [n for n in toy_names() if Path(get_spec(n).default_weights).exists()]
    per_model = {}
    with Timer() as t, deterministic(threads=1):
        for name in names:
            per_model[name] = measure(name)
    fmt = lambda m, method: [per_model[m][method][str(k)]["mean"] for k in KS]
    summary = {
        "columns": ["model", "method", "k=1", "k=2", "k=3", "k=#primitives"],
        "format": [None, None] + [".2f"] * 4,
        "rows": [[m, method, *fmt(m, method)] for m in names for method in ("weights", "attribution")],
    }
    mean = {
        method: [sum(per_model[m][method][str(k)]["mean"] for m in names) / len(names) for k in KS]
        for method in METHODS
    }
    chance = [
        min(per_model[m]["weights"]["auto"]["chance"] for m in names),
        max(per_model[m]["weights"]["auto"]["chance"] for m in names),
    ]
    summary["rows"] += [
        [f"mean of {len(names)} models", method, *mean[method]] for method in ("weights", "attribution")
    ]
    from visioncircuits.toyworld import CLASSES

    per_class = {
        "columns": ["model", "layer", "method", *CLASSES, "mean", "chance", "ceiling"],
        "format": [None] * 3 + [".2f"] * (len(CLASSES) + 3),
        "rows": [
            [
                m,
                per_model[m]["layer"],
                method,
                *[per_model[m][method]["auto"][c] for c in CLASSES],
                per_model[m][method]["auto"]["mean"],
                per_model[m][method]["auto"]["chance"],
                per_model[m][method]["auto"]["ceiling"],
            ]
            for m in names
            for method in ("weights", "attribution")
        ],
    }
    labels = {"attribution": "attribution (activation x gradient)", "weights": "weights (expanded, data-free)"}
    mean_table = {
        "columns": ["method", "k=1", "k=2", "k=3", "k=#primitives"],
        "format": [None] + [".2f"] * 4,
        "rows": [[labels[m], *mean[m]] for m in ("attribution", "weights")],
    }
    write_results(
        RESULTS_DIR / "circuits_toy.json",
        {
            "models": per_model,
            "summary": summary,
            "per_class": per_class,
            "mean": mean,
            "mean_table": mean_table,
            "chance_range": chance,
            "n_label": N_LABEL,
            "n_images": N_IMAGES,
        },
        command(),
        t,
        threads=1,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
