"""Do toy-model renderings beat the dataset? -> results/toy_render_quality.json

For every committed toy model and each of its main layers: render every unit, then score the
rendering and each of N generated toy-world images by one measure, the unit's spatial max
(``visioncircuits.featvis.quality.MEASURE``), and report the share of units whose rendering
beats their best dataset image and the median ratio rendering / best image.

Rendering settings (``CONFIGS``): ``gallery`` is what the demo's toy gallery uses (the
unit's centre position as objective, no transformation robustness, 64 steps, fft, initial
noise sd 0.5, redirected ReLU for the first 16 steps); the demo's gallery layer is also
measured with the settings it used before (``old``: spatial-mean objective, default
transforms) and with one change at a time, so each choice is backed by a number.

Resumable: each (model, layer, config) entry is written to the JSON as soon as it is done;
re-running skips entries already there with the same settings and the same weights file
(its sha256 is part of the settings).

    python scripts/reproduce_toy_render_quality.py [--out results/toy_render_quality.json]
        [--models toy-resnet-s0,...] [--images 1000] [--steps 64] [--threads 1]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import torch

from visioncircuits.atomic import write_json
from visioncircuits.featvis.quality import MEASURE, render_quality
from visioncircuits.featvis.seeding import SEEDING_VERSION
from visioncircuits.toyworld import generate
from visioncircuits.zoo import get_spec, load_model
from visioncircuits.zoo.toy import toy_names

REPO = Path(__file__).resolve().parents[1]
DATA_SEED = 4242  # the demo's gallery dataset seed (stage 10: ctx.seed + 4242 with seed 0)
DEMO = ("toy-resnet-s0", "block2.relu2")
CONFIGS = {
    "gallery": {"objective": "neuron", "transforms": "none"},
    "old": {"objective": "channel", "transforms": "default"},
    "neuron+default_transforms": {"objective": "neuron", "transforms": "default"},
    "channel+no_transforms": {"objective": "channel", "transforms": "none"},
}


def _weights_digest(name: str) -> str:
    """First 16 hex digits of the sha256 of the model's weights file, so a retrained model is re-measured."""
    return hashlib.sha256(Path(get_spec(name).default_weights).read_bytes()).hexdigest()[:16]


def _key(model: str, layer: str, config: str) -> str:
    return f"{model}|{layer}|{config}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "results" / "toy_render_quality.json"))
    ap.add_argument("--models", default=None, help="comma-separated toy models (default: every committed one)")
    ap.add_argument("--images", type=int, default=1000, help="generated toy images to compare with")
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--sd", type=float, default=0.5, help="initial noise of the fft image")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--table", action="store_true", help="only print the markdown tables of an existing --out file")
    args = ap.parse_args(argv)
    if args.table:
        print(markdown_tables(json.loads(Path(args.out).read_text())))
        return 0
    names = args.models.split(",") if args.models else toy_names()
    unknown = [n for n in names if n not in toy_names()]
    if unknown or args.images < 1 or args.steps < 1:
        print(f"error: unknown toy models {unknown} or bad --images/--steps", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    doc = json.loads(out.read_text()) if out.exists() else {}
    entries = doc.get("entries", {})
    common = {"steps": args.steps, "sd": args.sd, "images": args.images, "data_seed": DATA_SEED, "seed": 0,
              "seeding": SEEDING_VERSION}  # per-unit seeding scheme: entries of another scheme are re-measured
    t_all = time.time()
    images = generate(args.images, seed=DATA_SEED).images
    jobs = [(DEMO[0], DEMO[1], c) for c in CONFIGS if DEMO[0] in names]
    for name in sorted(names, key=lambda n: (not n.endswith("-s0"), n)):  # seed-0 models first
        if Path(get_spec(name).default_weights).exists():
            jobs += [(name, layer, "gallery") for layer in get_spec(name).main_layers if (name, layer) != DEMO]
    for name, layer, config in jobs:
        key = _key(name, layer, config)
        settings = {**common, **CONFIGS[config], "weights_sha256": _weights_digest(name)}
        if key in entries and entries[key]["settings_requested"] == settings:
            continue
        model = load_model(name)
        units = [f"{layer}:{i}" for i in range(model.channels(layer))]
        t0, c0 = time.time(), time.process_time()
        q = render_quality(
            model,
            units,
            images,
            objective=settings["objective"],
            steps=args.steps,
            transforms=settings["transforms"],
            param_kwargs={"sd": args.sd},
            batch_size=len(units),
        )
        entries[key] = {
            "model": name,
            "layer": layer,
            "config": config,
            "settings_requested": settings,
            "units": len(units),
            "share_beating": round(q.share, 4),
            "median_ratio": round(q.median_ratio, 3),
            "not_beating": [u for u, b in zip(q.units, q.beats, strict=True) if not b],
            "render_peak": [round(v, 4) for v in q.render_peak],
            "best_example": [round(v, 4) for v in q.best_example],
            "seconds": round(time.time() - t0, 1),
            "cpu_seconds": round(time.process_time() - c0, 1),
        }
        doc = _summary(entries, args)
        write_json(out, doc)
        print(f"{key}: {q.share:.3f} beat, median ratio {q.median_ratio:.2f}, {time.time() - t0:.0f} s", flush=True)
    doc = _summary(entries, args)
    doc["last_run_seconds"] = doc["seconds"] = round(time.time() - t_all, 1)
    write_json(out, doc)
    return 0


def markdown_tables(doc: dict) -> str:
    """The guide's tables: per model (gallery settings), then the demo layer's settings compared."""
    rows = [
        "| model | units (all main layers) | share beating best image | median ratio per layer | seconds |",
        "|---|---|---|---|---|",
    ]
    gallery = [e for e in doc["entries"].values() if e["config"] == "gallery"]
    for name, m in sorted(doc["per_model"].items()):
        ratios = [e["median_ratio"] for e in gallery if e["model"] == name]
        rows.append(
            f"| {name} | {m['units']} ({m['layers']} layers) | {m['share_beating']:.3f} | "
            f"{min(ratios):.2f}-{max(ratios):.2f} | {m['seconds']:.0f} |"
        )
    rows += [
        "",
        f"| {DEMO[0]} `{DEMO[1]}` settings | objective | transforms | share beating best image | median ratio |",
        "|---|---|---|---|---|",
    ]
    for config in CONFIGS:
        e = doc["entries"].get(_key(*DEMO, config))
        if e:
            st = e["settings_requested"]
            rows.append(
                f"| {config} | {st['objective']} | {st['transforms']} | {e['share_beating']:.3f} "
                f"| {e['median_ratio']:.2f} |"
            )
    return "\n".join(rows)


def _summary(entries: dict, args) -> dict:
    per_model: dict = {}
    for e in entries.values():
        if e["config"] != "gallery":
            continue
        m = per_model.setdefault(e["model"], {"units": 0, "beating": 0, "layers": 0, "seconds": 0.0})
        m["units"] += e["units"]
        m["beating"] += round(e["share_beating"] * e["units"])
        m["layers"] += 1
        m["seconds"] = round(m["seconds"] + e["seconds"], 1)
    for m in per_model.values():
        m["share_beating"] = round(m["beating"] / max(1, m["units"]), 4)
    return {
        "measure": MEASURE,
        "description": "share of toy units whose rendering beats their best generated "
        "toy image, both scored by the unit's spatial max; see scripts/reproduce_toy_render_quality.py",
        "command": "python scripts/reproduce_toy_render_quality.py",
        "configs": CONFIGS,
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": args.threads},
        "per_model": per_model,
        "entries": entries,
    }


if __name__ == "__main__":
    sys.exit(main())
