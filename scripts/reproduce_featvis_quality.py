"""Feature-visualisation quality on real weights: renders of CIFAR ResNet-20 `layer3.2` vs the best photo.

For all 64 channels, rendered in one batch at 32x32, the share of channels whose rendering
activates the channel more than every one of the 1,000 sample photos (resized to 32x32) does,
and the median ratio of the rendering's activation to the best photo's. One measure for both:
the channel's spatial-mean activation. Settings: fft / pixel / maco at 24 and 64 steps (the
defaults otherwise), plus the variants the docs discuss (initial noise sd 0.01 and 0.5,
redirected ReLU off). One thread, deterministic kernels.

    python scripts/reproduce_featvis_quality.py            # ~3-6 min on one CPU thread
"""

from __future__ import annotations

import sys

import torch
from _common import command, hub_cache, parse_no_options, sample_images

from visioncircuits.results import RESULTS_DIR, Timer, deterministic, write_results

LAYER, UNITS, SIZE = "layer3.2", 64, 32
RUNS = [  # (name, param, steps, extra render kwargs)
    ("fft-24", "fft", 24, {}),
    ("fft-64", "fft", 64, {}),
    ("pixel-24", "pixel", 24, {}),
    ("pixel-64", "pixel", 64, {}),
    ("maco-24", "maco", 24, {}),
    ("maco-64", "maco", 64, {}),
    ("fft-24-sd0.01", "fft", 24, {"param_kwargs": {"sd": 0.01}}),
    ("fft-24-sd0.5", "fft", 24, {"param_kwargs": {"sd": 0.5}}),
    ("pixel-24-sd0.5", "pixel", 24, {"param_kwargs": {"sd": 0.5}}),
    ("fft-24-no-redirect", "fft", 24, {"redirect_relu": False}),
    ("pixel-24-no-redirect", "pixel", 24, {"redirect_relu": False}),
]


def best_photo(model, folder) -> torch.Tensor:
    from visioncircuits.data import ImageFolder

    best = None
    for _, imgs in ImageFolder(folder, SIZE).batches(250):
        v = model.run_with_cache(imgs, [LAYER])[LAYER].mean(dim=(2, 3)).amax(0)
        best = v if best is None else torch.maximum(best, v)
    return best


def main() -> int:
    parse_no_options(__doc__)
    from visioncircuits.featvis import render
    from visioncircuits.zoo import load_model

    rows = {}
    with Timer() as total, deterministic(threads=1), hub_cache():
        model = load_model("cifar10-resnet20")
        best = best_photo(model, sample_images())
        for name, param, steps, kw in RUNS:
            with Timer() as t:
                r = render(
                    model,
                    [f"{LAYER}:{i}" for i in range(UNITS)],
                    steps=steps,
                    size=SIZE,
                    param=param,
                    batch_size=UNITS,
                    progress=False,
                    **kw,
                )
            reached = torch.tensor(r.values)
            rows[name] = {
                "param": param,
                "steps": steps,
                "beat_every_photo": float((reached > best).float().mean()),
                "median_ratio": float((reached / best).median()),
                "dead": int((reached <= 0).sum()),
                "seconds": round(t.wall, 1),
                "cpu_seconds": round(t.cpu, 1),
                **{k: str(v) for k, v in kw.items()},
            }
    table = {
        "columns": ["param", "steps", "channels beating every photo", "median ratio to best photo"],
        "format": [None, None, ".3f", ".2f"],
        "rows": [
            [r["param"], r["steps"], r["beat_every_photo"], r["median_ratio"]]
            for n, r in rows.items()
            if "-" not in n[n.index("-") + 1 :]
        ],
    }
    write_results(
        RESULTS_DIR / "featvis_quality.json",
        {"runs": rows, "table": table, "photos": 1000, "units": UNITS, "layer": LAYER},
        command(),
        total,
        threads=1,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
