"""Dead units and redirected ReLU gradients on the toy zoo: for every main layer of toy-vgg-s0,
toy-resnet-s0 and toy-inception-s0, how many units' renderings reach an objective (spatial-mean
activation) > 0 with redirection off (`--no-redirect-relu`), on (the default: Lucid's 16 steps,
at most half the steps) and on with livelier initial noise (`--init-sd 0.5`). All channels of a
layer in one batch, fft, 64 px, 24 steps, seed 0. One thread, deterministic kernels.

    python scripts/reproduce_featvis_redirect.py            # ~2-4 min on one thread
"""

from __future__ import annotations

import sys

from _common import command, parse_no_options

from visioncircuits.results import RESULTS_DIR, Timer, deterministic, write_results

MODELS = ("toy-vgg-s0", "toy-resnet-s0", "toy-inception-s0")
STEPS = 24
VARIANTS = {"before": {"redirect_relu": False}, "after": {}, "after_sd0.5": {"param_kwargs": {"sd": 0.5}}}


def main() -> int:
    parse_no_options(__doc__)
    from visioncircuits.featvis import render
    from visioncircuits.zoo import load_model

    layers, totals = [], {}
    with Timer() as t, deterministic(threads=1):
        for name in MODELS:
            model = load_model(name)
            tot = {"units": 0, **{v: 0 for v in VARIANTS}}
            for layer in model.spec.main_layers:
                n = model.channels(layer)
                row = {"model": name, "layer": layer, "units": n}
                for v, kw in VARIANTS.items():
                    r = render(
                        model,
                        [f"{layer}:{i}" for i in range(n)],
                        steps=STEPS,
                        size=64,
                        batch_size=n,
                        progress=False,
                        **kw,
                    )
                    row[v] = int(sum(x > 0 for x in r.values))
                    tot[v] += row[v]
                tot["units"] += n
                layers.append(row)
            totals[name] = {**tot, **{f"{v}_share": tot[v] / tot["units"] for v in VARIANTS}}
    table = {
        "columns": ["model", "layer", "units", "before", "after", "after, `--init-sd 0.5`"],
        "format": [None, None, ".0f", ".0f", ".0f", ".0f"],
        "rows": [[r["model"], r["layer"], r["units"], r["before"], r["after"], r["after_sd0.5"]] for r in layers]
        + [
            [
                m,
                "all",
                totals[m]["units"],
                100 * totals[m]["before_share"],
                100 * totals[m]["after_share"],
                100 * totals[m]["after_sd0.5_share"],
            ]
            for m in MODELS
        ],
    }
    ranges = {
        v: [min(100 * totals[m][f"{v}_share"] for m in MODELS), max(100 * totals[m][f"{v}_share"] for m in MODELS)]
        for v in VARIANTS
    }
    write_results(
        RESULTS_DIR / "featvis_redirect.json",
        {"layers": layers, "totals": totals, "table": table, "steps": STEPS, "range_pct": ranges},
        command(),
        t,
        threads=1,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
