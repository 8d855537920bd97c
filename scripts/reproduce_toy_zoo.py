"""Reproduce every toy-zoo number the docs publish; writes results/toy_zoo.json.

    python scripts/reproduce_toy_zoo.py [--out results/toy_zoo.json] [--quick]

Per committed toy model (supervised and unsupervised zoo): held-out accuracy on 2,000 fresh
images (the card's measure), how many of the 26 primitives get a unit of the primitive
layer at AUC >= 0.95 (label code of visioncircuits.toyworld.labels, 1,000 labelling images),
mean monosemanticity on scenes and on isolated primitives (16 per primitive), and for the
supervised wide models how many supervised channels carry their own primitive's label and
how many of the 8 curve units peak at their own orientation.
Per reported pair: the universality measures of demo stage 40 at its full settings (without
feature visualisations): top-50 same-label share, its random-weights and random-pairing
baselines, and the same-index baseline. Runs on one CPU thread; its CPU and wall time are
written into the JSON (``cpu_seconds``, ``seconds``). Resumable: rows whose weights file is
unchanged (same sha256) are kept from the JSON already at ``--out``; delete it to measure all.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch

from visioncircuits.atomic import write_json
from visioncircuits.demo.stage_40_universality import _settings, measure_pair
from visioncircuits.toyworld.evaluate import accuracy
from visioncircuits.toyworld.generate import generate
from visioncircuits.toyworld.labels import LABEL_SEED, isolated_selectivity, label_units, monosemanticity
from visioncircuits.toyworld.models import PRIMITIVE_CHANNELS
from visioncircuits.toyworld.primitives import PRIMITIVES
from visioncircuits.toyworld.probes import probe_set
from visioncircuits.universality.toy import toy_probes
from visioncircuits.zoo import get_spec, load_model
from visioncircuits.zoo.toy import toy_names

AUC = 0.95
PAIRS = [
    # supervised zoo: different architectures, same seed (shared init before the per-model init) and same channel order
    ("toy-vgg-s0", "toy-resnet-s0"),
    # unsupervised: nothing shared by construction (the demo's pair first)
    ("toy-vgg-u-s0", "toy-resnet-u-s1"),
    ("toy-resnet-u-s0", "toy-inception-u-s1"),
    ("toy-vgg-u-s0", "toy-vgg-u-s1"),  # same architecture, different seed
]


def curve_peaks(model, layer: str, arch: str) -> int:
    """Supervised curve units whose tuning curve (curve probe set, radius 6) peaks within 22.5 deg of their angle."""
    ps = probe_set("curve", steps=16, radii=(6.0,))
    acts = model.run_with_cache(ps.images, [layer])[layer].amax((2, 3))
    hits = 0
    for ang in range(0, 360, 45):
        ch = PRIMITIVE_CHANNELS[arch][PRIMITIVES.index(f"curve_{ang}deg")]
        peak = ps.column("orientation")[int(acts[:, ch].argmax())]
        hits += min(abs(peak - ang), 360 - abs(peak - ang)) <= 22.5
    return int(hits)


def model_row(name: str, n_eval: int, data, per_primitive: int) -> dict:
    spec = get_spec(name)
    model = load_model(name)
    layer, arch = spec.extra["primitive_layer"], spec.extra["arch"]
    supervised = bool(spec.extra.get("supervised", True))
    labs = label_units(model, layer, data=data)
    best = labs.auc.max(0)
    iso = isolated_selectivity(model, layer, per_primitive=per_primitive)
    row = {
        "supervised": supervised,
        "arch": arch,
        "seed": spec.extra["seed"],
        "accuracy": round(accuracy(model, n=n_eval), 4),
        "eval_n": n_eval,
        "primitive_layer": layer,
        "units": len(labs),
        "primitives_at_auc_095": int((best >= AUC).sum()),
        "covered": [p for p, a in zip(labs.primitives, best) if a >= AUC],
        "confident_units": int(sum(lab.confident for lab in labs)),
        "mean_monosemanticity_scenes": round(float(labs.monosemanticity.mean()), 3),
        "mean_monosemanticity_isolated": round(float(monosemanticity(iso).mean()), 3),
    }
    if supervised and PRIMITIVE_CHANNELS[arch] is not None:
        chans = PRIMITIVE_CHANNELS[arch]
        row["supervised_channels_own_label"] = int(
            sum(labs[chans[p]].primitive == prim for p, prim in enumerate(PRIMITIVES))
        )
        row["curve_units_peak_at_own_angle"] = curve_peaks(model, layer, arch)
    return row


GROUP_FIELDS = ("primitives_at_auc_095", "mean_monosemanticity_isolated", "mean_monosemanticity_scenes", "accuracy")


def group_ranges(models: dict) -> dict:
    """min/max of the headline fields per group (supervised wide, unsupervised, narrow): what the prose quotes."""
    groups = {
        "supervised_wide": [r for r in models.values() if r["supervised"] and r["arch"] != "narrow"],
        "unsupervised": [r for r in models.values() if not r["supervised"]],
        "narrow": [r for r in models.values() if r["arch"] == "narrow"],
    }
    return {
        g: {f: {"min": min(r[f] for r in rows), "max": max(r[f] for r in rows)} for f in GROUP_FIELDS}
        for g, rows in groups.items()
        if rows
    }


def tables(res: dict) -> str:
    """The docs' markdown tables, from a results file (so the docs print exactly what was measured)."""
    lines = [
        "| model | primitive layer | own initial weights | held-out accuracy | CPU time to train (card) | "
        "primitives with a unit at AUC >= 0.95 "
        "| supervised channels with their own label | mean monosemanticity (scenes / isolated) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, r in res["models"].items():
        own = r.get("supervised_channels_own_label")
        init = "yes" if r.get("per_model_init") else "no (shared with same-seed models)"
        lines.append(
            f"| `{n}` | `{r['primitive_layer']}` ({'supervised' if r['supervised'] else '**unsupervised**'}, "
            f"{r['units']} units) "
            f"| {init} | {r['accuracy']:.4f} | {r.get('train_cpu_seconds', 0):.0f} s | "
            f"{r['primitives_at_auc_095']} / 26 | {'-' if own is None else f'{own} / 26'} "
            f"| {r['mean_monosemanticity_scenes']:.3f} / {r['mean_monosemanticity_isolated']:.3f} |"
        )
    lines += [
        "",
        "| pair | built in | strongest labelled matches (up to 50) sharing the label | B with random weights "
        "(its own init) | random pairing "
        "| same-index matches (all / top 50) | same index by chance | significant matches |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in res["pairs"]:
        a, b = p["models"]
        built = "supervised channel order" if all(p["supervised"]) else "nothing"
        lines.append(
            f"| `{a}` vs `{b}` | {built} | **{p['same_label']}/{p['top']} ({100 * p['same_label_fraction']:.0f}%)** "
            f"| {100 * p['random_weights_same_label_fraction']:.0f}% of {p['random_weights_top']} | "
            f"{100 * p['random_pairing_chance']:.1f}% "
            f"| {p['same_index']}/{p['matches']} / {p['top_same_index']}/{p['top_same_index_of']} | "
            f"{100 * p['same_index_chance']:.1f}% "
            f"| {p['significant_matches']} / {p['matches']} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/toy_zoo.json")
    ap.add_argument("--quick", action="store_true", help="small settings (a smoke test, not the published numbers)")
    ap.add_argument(
        "--tables", action="store_true", help="print the docs' markdown tables from --out and exit (no measuring)"
    )
    ap.add_argument(
        "--only", default=None, help="comma-separated model names to (re)measure now (default: all committed)"
    )
    args = ap.parse_args(argv)
    if args.tables:
        print(tables(json.loads(Path(args.out).read_text())))
        return 0
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    t0, c0 = time.perf_counter(), time.process_time()
    n_eval, n_label = (100, 200) if args.quick else (2000, 1000)
    data = generate(n_label, seed=LABEL_SEED)
    names = [n for n in toy_names() + toy_names(supervised=False) if Path(get_spec(n).default_weights).exists()]
    todo = [n for n in names if n in args.only.split(",")] if args.only else names
    # resumable: rows of unchanged weights (same sha256, same settings) are kept from an earlier run
    old = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    same_settings = old.get("quick") == args.quick
    old_models = old.get("models", {}) if same_settings else {}
    old_pairs = {tuple(p["models"]): p for p in old.get("pairs", [])} if same_settings else {}
    sha = {n: hashlib.sha256(Path(get_spec(n).default_weights).read_bytes()).hexdigest() for n in names}
    models = {n: old_models[n] for n in names if old_models.get(n, {}).get("weights_sha256") == sha[n]}
    for n in todo:
        if n in models:
            continue
        c1 = time.process_time()
        models[n] = dict(model_row(n, n_eval, data, 4 if args.quick else 16), weights_sha256=sha[n])
        models[n]["cpu_seconds"] = round(time.process_time() - c1, 1)
        write_json(
            args.out, {**old, "quick": args.quick, "models": {**old_models, **models}}
        )  # progress survives a kill
        print(
            f"{n}: accuracy {models[n]['accuracy']:.4f}, {models[n]['primitives_at_auc_095']}/26 primitives at "
            f"AUC >= {AUC}",
            flush=True,
        )
    models = {n: models[n] for n in names if n in models}  # the zoo's order, however many were re-measured
    for n, r in models.items():  # the training cost, as recorded by `toyworld train` in the model's card
        card = json.loads(Path(get_spec(n).default_weights).with_suffix(".json").read_text())
        r["train_cpu_seconds"], r["train_wall_seconds"] = card.get("cpu_seconds"), card.get("train_seconds")
        r["card_accuracy"], r["per_model_init"] = card.get("accuracy"), card.get("init_seed") is not None
    s = dict(_settings(args.quick), steps=0)
    probes = toy_probes(s["n_probe"], seed=777_000_000)  # the demo's probe images (seed 0)
    pairs = []
    for a, b in PAIRS:
        if a not in models or b not in models:
            print(f"skipping {a} vs {b}: weights missing", flush=True)
            continue
        prev = old_pairs.get((a, b))
        if prev and prev.get("weights_sha256") == [sha[a], sha[b]] and "same_index_by_layer" in prev:
            pairs.append(prev)
            continue
        c1 = time.process_time()
        with tempfile.TemporaryDirectory() as tmp:
            _, m = measure_pair(a, b, probes, s, Path(tmp), seed=0)
        m["cpu_seconds"] = round(time.process_time() - c1, 1)
        m.pop("cka")
        m["weights_sha256"] = [sha[a], sha[b]]
        pairs.append(m)
        print(
            f"{a} vs {b}: {m['same_label']}/{m['top']} same label ({100 * m['same_label_fraction']:.0f}%; "
            f"random weights {100 * m['random_weights_same_label_fraction']:.0f}%, chance "
            f"{100 * m['random_pairing_chance']:.0f}%); "
            f"same index {m['same_index']}/{m['matches']} (top {m['top_same_index']}/{m['top_same_index_of']}, "
            f"chance {100 * m['same_index_chance']:.1f}%)",
            flush=True,
        )
    out = {
        "description": "toy zoo: accuracy, emerged vs supervised primitive detectors, universality with baselines",
        "command": "python scripts/reproduce_toy_zoo.py" + (" --quick" if args.quick else ""),
        "quick": args.quick,
        "auc_threshold": AUC,
        "label_images": n_label,
        "settings": s,
        "models": models,
        "groups": group_ranges(models),
        "pairs": pairs,
        "seconds": round(time.perf_counter() - t0, 1),
        "cpu_seconds": round(time.process_time() - c0, 1),
        "note": "seconds/cpu_seconds are this run's; rows of unchanged weights are reused from the previous run",
        "total_cpu_seconds": round(
            sum(r.get("cpu_seconds", 0) for r in models.values()) + sum(p.get("cpu_seconds", 0) for p in pairs), 1
        ),
        "threads": 1,
        "torch": torch.__version__,
    }
    write_json(args.out, out)
    print(f"wrote {args.out} ({out['cpu_seconds']:.0f} s CPU, {out['seconds']:.0f} s wall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
