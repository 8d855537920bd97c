"""``visioncircuits expanded MODEL --out DIR``: expanded weights of every layer pair (resumable, --ray)."""
from __future__ import annotations

import argparse

from visioncircuits.cli.ray_option import add_ray_option, ray_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("expanded", help="expanded weights of every layer pair: one safetensors file per pair "
                                        "plus expanded.json (data-free wiring of the whole model)")
    p.add_argument("model", help="registered model name (see `visioncircuits models`)")
    p.add_argument("--out", required=True, help="output folder (re-running resumes)")
    p.add_argument("--layers", nargs="+", default=None, help="layers (default: the model's main layers)")
    p.add_argument("--pairs", default="consecutive", choices=("consecutive", "all"),
                   help="consecutive layers (default) or every lower/upper pair")
    p.add_argument("--crop", default="auto",
                   help="auto (the receptive field, default), none (whole lower map) or a side in positions")
    p.add_argument("--size", type=int, default=None, help="input size (default: the model's)")
    p.add_argument("--weights", default=None, help="weights file, or 'random' (default: the model's published weights)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    add_ray_option(p)
    p.set_defaults(func=run)


def _crop(text: str):
    from visioncircuits.errors import InputError

    if text in ("auto", "none"):
        return None if text == "none" else "auto"
    try:
        n = int(text)
    except ValueError:
        raise InputError(f"--crop must be auto, none or a positive integer, got '{text}'") from None
    if n < 1:
        raise InputError(f"--crop must be auto, none or a positive integer, got {n}")
    return n


def run(args: argparse.Namespace) -> int:
    from visioncircuits.circuits.expanded_pairs import expanded_all_pairs
    from visioncircuits.cli.cmd_render import load
    from visioncircuits.errors import InputError

    crop = _crop(args.crop)
    if args.size is not None and args.size < 8:
        raise InputError(f"--size must be at least 8 pixels, got {args.size}")
    ray = ray_config(args)
    model = load(args)
    man = expanded_all_pairs(model, args.out, args.layers, pairs=args.pairs, crop=crop, size=args.size, ray=ray)
    for row in man["pairs"]:
        print(f"{row['lower']} -> {row['upper']}: {row['shape']}  {row['file']}")
    print(f"wrote {args.out}/expanded.json ({len(man['pairs'])} layer pairs)")
    return 0
