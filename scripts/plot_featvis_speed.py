"""Objective-vs-time curves of lucent, this engine and its --fast preset, for the README.

Reads the curves that ``visioncircuits bench featvis_speed`` stored in its results files
(measures nothing) and writes one small PNG, a panel per model:

    python scripts/plot_featvis_speed.py [--out docs/img/featvis_speed.png]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FILES = {"InceptionV1 (lucent's, random weights), mixed4a": "results/bench_featvis_speed_inceptionv1.json",
         "MobileNetV2 (real weights), blocks.9": "results/bench_featvis_speed_mobilenet_v2.json"}
STYLE = {"lucent render_vis": ("k", "-"), "engine (default)": ("tab:blue", "-"),
         "engine (--fast)": ("tab:red", "-"), "engine (bf16 + channels_last only)": ("tab:orange", "--"),
         "engine (coarse-to-fine 0.5 only)": ("tab:green", "--")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "img" / "featvis_speed.png"))
    args = ap.parse_args()
    panels = [(t, ROOT / f) for t, f in FILES.items() if (ROOT / f).exists()]
    if not panels:
        raise SystemExit("no results/bench_featvis_speed_*.json yet: run visioncircuits bench featvis_speed first")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), dpi=90, squeeze=False)
    for ax, (title, path) in zip(axes[0], panels):
        rows = json.loads(path.read_text())["values"]["rows"]
        target = rows[0]["lucent's objective"]
        for row in rows:
            colour, ls = STYLE.get(row["contender"], ("grey", ":"))
            xs = [0.0] + [p[1] for p in row["curve"]]
            ys = [None] + [p[2] for p in row["curve"]]
            ax.plot(xs[1:], ys[1:], color=colour, ls=ls, lw=1.5, label=row["contender"])
        ax.axhline(target, color="k", lw=0.6, ls=":")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("CPU seconds (one thread)", fontsize=8)
        ax.set_ylabel("mean objective over units", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=6.5, loc="lower right")
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
