"""Markdown tables of the MobileNetV2 sections of docs/readme/featvis.md and docs/readme/sae.md.

Reads only the committed results/mobilenet_galleries.json and results/mobilenet_sae.json (written by
scripts/reproduce_mobilenet_galleries.py and scripts/reproduce_mobilenet_sae.py); measures nothing.

python scripts/mobilenet_doc_tables_a.py --tables
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RES = Path(__file__).resolve().parents[1] / "results"
STRIDES = ["2", "4", "8", "16", "32", "all"]


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def galleries() -> list[str]:
    r = json.loads((RES / "mobilenet_galleries.json").read_text())
    out = [
        "| layer | total stride | channels rendered | renders beating every photo | median ratio render / best photo"
        " | lowest ratio | gallery wall s (CPU s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for layer, d in r["layers"].items():
        cpu = "n/a" if d["gallery_cpu_s"] is None else f"{d['gallery_cpu_s']:.0f}"
        out.append(
            f"| `{layer}` | {d['total_stride']} | {len(d['units'])} | **{_pct(d['beats_all_photos'])}** "
            f"| {d['median_ratio_to_best_photo']:.2f} | {d['min_ratio_to_best_photo']:.2f} "
            f"| {d['gallery_s']:.0f} ({cpu}) |"
        )
    out += [
        "",
        "| layer | transforms | stride 2 | 4 | 8 | 16 | 32 | all | beat every photo | median ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for layer, d in r["layers"].items():
        for name, c in d["compare"].items():
            rel = " | ".join(f"{c['relative_to_photos'][s]:.2f}" for s in STRIDES)
            out.append(f"| `{layer}` | {name} | {rel} | {_pct(c['beats_all_photos'])} | {c['median_ratio']:.2f} |")
        rel = " | ".join(f"{d['relative_to_photos_all_units'][s]:.2f}" for s in STRIDES)
        out.append(f"| `{layer}` | {r['settings']['transforms']}, all {len(d['units'])} units | {rel} | | |")
    return out


def sae() -> list[str]:
    r = json.loads((RES / "mobilenet_sae.json").read_text())
    s, kl, ce = r["sae"], r["eval_heldout_kl"], r["eval_heldout_ce"]
    out = [
        "| latents | k | steps x batch | explained variance | nMSE | L0 "
        f"| dead ({kl['images']} held-out photos, {kl['samples']:,} positions) | loss recovered, KL "
        "| loss recovered, CE | CE clean / SAE / zero |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {s['d_sae']} | {s['k']} | {s['steps']} x {s['batch_size']} | **{kl['explained_variance']:.3f}** "
        f"| {kl['nmse']:.3f} | {kl['l0']:.1f} | {100 * kl['dead_fraction']:.1f}% | **{kl['loss_recovered']:.3f}** "
        f"| {ce['loss_recovered']:.3f} | {ce['loss_clean']:.3f} / {ce['loss_sae']:.3f} / {ce['loss_zero']:.3f} |",
        "",
        "| photos searched | units | n | never positive | mean top-group share | mean dog share "
        "| dog units (>= 6/9 dogs) |",
        "|---|---|---|---|---|---|---|",
    ]
    for sets in r["coherence"].values():
        for name, u in sets.items():
            if not isinstance(u, dict):
                continue
            never = u.get("units_never_firing", "")
            out.append(
                f"| {sets['photos']} | {name.replace('_', ' ')} | {u['units']} | {never} "
                f"| {u['mean_top_group_share']:.3f} | {u['mean_dog_share']:.3f} | {u['dog_units']} |"
            )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", action="store_true", help="print the markdown tables (the default)")
    p.parse_args()
    print("\n".join(["## docs/readme/featvis.md", "", *galleries(), "", "## docs/readme/sae.md", "", *sae()]))


if __name__ == "__main__":
    main()
