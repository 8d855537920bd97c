"""``visioncircuits universality MODEL_A MODEL_B [MODEL ...]``: the cross-model report."""
from __future__ import annotations

import argparse

from visioncircuits.cli.ray_option import add_ray_option, ray_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "universality",
        help="compare models: layer CKA, unit matching with nulls, stimulus transfer; writes report.html",
    )
    p.add_argument("models", nargs="+", metavar="MODEL", help="two or more model names (see `visioncircuits models`)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", metavar="DIR", help="probe images from this folder")
    src.add_argument(
        "--toyworld", action="store_true", help="generated toy-world probe images (and ground-truth unit labels)"
    )
    p.add_argument(
        "--out", required=True, metavar="DIR", help="output folder for report.json, report.html and CKA figures"
    )
    p.add_argument(
        "--layers",
        nargs="+",
        default=None,
        metavar="SPEC",
        help="main (default), all, or comma-separated layer names; one SPEC for every model or one per model",
    )
    p.add_argument("--n", type=int, default=500, help="number of probe images (default 500)")
    p.add_argument("--size", type=int, default=None, help="probe image size (default: the largest model input size)")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--grid", type=int, default=8, help="unit maps are pooled to GRID x GRID positions for matching")
    p.add_argument("--method", default="hungarian", help="unit matching: hungarian, semi or mutual")
    p.add_argument("--permutations", type=int, default=2, help="image permutations for the null (default 2)")
    p.add_argument("--no-random-null", action="store_true", help="skip the random-weights null model")
    p.add_argument("--top-pairs", type=int, default=12, help="matched pairs shown with pictures")
    p.add_argument(
        "--featvis-steps", type=int, default=128, help="feature-visualisation steps (0: no pictures, no transfer)"
    )
    p.add_argument("--no-labels", action="store_true", help="with --toyworld: skip ground-truth unit labels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    add_ray_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging
    from pathlib import Path

    from visioncircuits.device import pick_device
    from visioncircuits.errors import InputError, unknown
    from visioncircuits.universality.compare import CompareConfig
    from visioncircuits.universality.matching import METHODS
    from visioncircuits.universality.pipeline import ReportConfig, load_models, run_universality
    from visioncircuits.universality.probes import FolderProbes

    if len(args.models) < 2:
        raise InputError(
            "universality needs at least two models, "
            "e.g. visioncircuits universality toy-vgg-s0 toy-resnet-s0 --toyworld --out DIR"
        )
    for flag, value, low in (
        ("--n", args.n, 1),
        ("--batch-size", args.batch_size, 4),
        ("--grid", args.grid, 1),
        ("--permutations", args.permutations, 1),
        ("--top-pairs", args.top_pairs, 0),
        ("--featvis-steps", args.featvis_steps, 0),
    ):
        if value < low:
            raise InputError(f"{flag} must be at least {low}, got {value}")
    if args.method not in METHODS:
        raise unknown("matching method", args.method, METHODS)
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise InputError(f"--out must be a folder, but {args.out} is a file")
    if args.size is not None and args.size < 8:
        raise InputError(f"--size must be at least 8 pixels, got {args.size}")
    from visioncircuits.zoo import get_spec

    specs = [get_spec(n) for n in args.models]  # unknown names fail here, before any download
    ray = ray_config(args)
    device = pick_device(args.device)
    size = args.size or max(int(s.input_size) for s in specs)
    label_fn = None
    if args.toyworld:
        from visioncircuits.universality.toy import toy_label_fn, toy_probes

        probes = toy_probes(args.n, size=size)
        if not args.no_labels and all(s.family == "toy" for s in specs):
            label_fn = toy_label_fn()
    else:
        probes = FolderProbes(args.dataset, size, limit=args.n)
    models, nulls = load_models(args.models, device, random_null=not args.no_random_null)
    opts = ReportConfig(
        top_pairs=args.top_pairs,
        featvis_steps=args.featvis_steps,
        random_null=not args.no_random_null,
        compare=CompareConfig(
            batch_size=args.batch_size,
            grid=args.grid,
            method=args.method,
            n_permutations=args.permutations,
            seed=args.seed,
            progress=logging.getLogger().level > logging.DEBUG,
        ),
    )
    report = run_universality(args.models, probes, args.out, layers=args.layers, options=opts, label_fn=label_fn,
                              models=models, null_models=nulls, ray=ray)
    for p in report["pairs"]:
        m = p["matching"]
        line = (f"{p['a']} vs {p['b']}: {m['n_significant']} of {len(m['matches'])} matches significant, "
                f"mean r {m['mean_r']:.3f}")
        if "labels" in p:
            lab = p["labels"]
            line += f"; top-{lab['n']} same label {100 * lab['fraction']:.0f}% (chance {100 * lab['chance']:.0f}%)"
        print(line)
    print(f"wrote {args.out}/report.html")
    return 0
