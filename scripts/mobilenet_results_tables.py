"""Markdown tables for docs/readme/mobilenet.md (from results/mobilenet_{dog_circuit,universality}.json)
and docs/readme/zoo.md (the accuracy table, from results/mobilenet_accuracy.json).

Reads only the committed results files; measures nothing.

python scripts/mobilenet_results_tables.py --tables
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RES = Path(__file__).resolve().parents[1] / "results"


def accuracy() -> list[str]:
    r = json.loads((RES / "mobilenet_accuracy.json").read_text())
    pct = lambda v: f"{100 * v:.1f} %"  # noqa: E731
    out = [
        f"Accuracy: {r['cpu_seconds']:.0f} CPU seconds for all six runs ({r['threads']} threads).",
        "",
        "| model | input | shipped float16 | float32 file | top-1 agreement |",
        "|---|---|---|---|---|",
    ]
    for name, m in r["models"].items():
        f16, f32 = m["fp16_shipped"], m["fp32_shared"]
        out.append(
            f"| `{name}` | {m['input_size']} | {pct(f16['top1'])} / {pct(f16['top5'])} | "
            f"{pct(f32['top1'])} / {pct(f32['top5'])} | {pct(m['top1_agreement_fp16_vs_fp32'])} |"
        )
    return out


def dog() -> list[str]:
    r = json.loads((RES / "mobilenet_dog_circuit.json").read_text())
    out = [
        f"Dog photos: {r['n_dog_photos']} of {r['n_photos']} (base rate {100 * r['dog_base_rate']:.1f}%). "
        f"Runtime {r['runtime']['wall_seconds']:.0f} s wall, {r['runtime']['cpu_seconds']:.0f} s CPU.",
        "",
        "| layer | units | best top-9 dog share | units with >= 6/9 dogs | mean top-9 dog share |",
        "|---|---|---|---|---|",
    ]
    for layer, d in r["dog_units_per_layer"].items():
        out.append(
            f"| {layer} | {d['units']} | {d['max_share_top9']:.2f} | {d['units_share9_ge_0.67']} | {d['mean_share_top9']:.3f} |"  # noqa: E501
        )
    out += ["", "| node | depth | dog share top-9 / top-20 | top-9 photos' most common classes |", "|---|---|---|---|"]
    for n in r["circuit"]["nodes"]:
        common = ", ".join(f"{c} ({k})" if k > 1 else c for c, k in (n["common_classes"] or [])[:3])
        out.append(
            f"| `{n['unit']}` | {n['depth']} | {n['dog_share_top9']:.2f} / {n['dog_share_top20']:.2f} | {common} |"
        )
    out += ["", "| edge (lower -> upper) | attribution |", "|---|---|"]
    out += [f"| `{e['from']}` -> `{e['to']}` | {e['attribution']:.4f} |" for e in r["circuit"]["edges"]]
    return out


def uni() -> list[str]:
    r = json.loads((RES / "mobilenet_universality.json").read_text())
    out = [
        f"Probes: {r['probes']['n_images']} photos. Runtime {r['runtime']['wall_seconds']:.0f} s wall, "
        f"{r['runtime']['cpu_seconds']:.0f} s CPU.",
        "",
    ]
    out += [
        "| pair | Spearman(layer index, argmax) | argmax = proportional | within one layer | mean CKA at argmax | "
        "units A / B | matches significant (both nulls) | beat random-weights | mean r (top 50) | permuted null q95 | random null q95 |",  # noqa: E501
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in r["pairs"]:
        da, m, nl = p["cka"]["depth_alignment"], p["matching"], p["null"]
        rn = nl.get("random_weights") or {}
        out.append(
            f"| {p['a']} vs {p['b']} | {da['spearman_index_vs_argmax']} | {da['exact']:.2f} | {da['within_one_layer']:.2f} | "  # noqa: E501
            f"{da['mean_cka_argmax']:.3f} | {m['units_a']} / {m['units_b']} | {m['n_significant']} / {m['n_matches']} | "  # noqa: E501
            f"{m['n_beat_random']} | {m['mean_r_top50']:.3f} | {nl['permuted_images']['q95']:.3f} | "
            f"{rn.get('q95', float('nan')):.3f} |"
        )
    for p in r["pairs"]:
        out += [
            "",
            f"{p['a']} layer -> most similar {p['b']} layer (CKA) vs the layer at proportional depth:",
            "",
            "| A layer | argmax B layer | CKA | proportional B layer | CKA |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| {x['layer_a']} | {x['argmax_b']} | {x['cka_argmax']:.3f} | {x['proportional_b']} | {x['cka_proportional']:.3f} |"  # noqa: E501
            for x in p["cka"]["depth_alignment"]["rows"]
        ]
        if p.get("transfer"):
            out += [
                "",
                "Stimulus transfer of the top matched pairs (B's unit on A's render, relative to B's own render; and back):",  # noqa: E501
                "",
                "| unit A | unit B | transfer A->B | transfer B->A |",
                "|---|---|---|---|",
            ]
            fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
            out += [
                f"| `{t['unit_a']}` | `{t['unit_b']}` | {fmt(t['transfer_ab'])} | {fmt(t['transfer_ba'])} |"
                for t in p["transfer"]
            ]
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", action="store_true", help="print every table (the default; reads results/ only)")
    ap.parse_args()
    for name, fn in (("accuracy", accuracy), ("dog circuit", dog), ("universality", uni)):
        try:
            print("\n".join(fn()) + "\n")
        except FileNotFoundError as e:
            print(f"<!-- {name}: {e} -->\n")
