"""``visioncircuits demo --out DIR``: the offline main job."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the offline demo (toy world + real MobileNets) and write DIR/index.html")
    p.add_argument("--out", default="demo-out", help="output folder (default: demo-out)")
    p.add_argument("--quick", action="store_true", help="smaller settings, for tests")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stages", nargs="*", default=None, help="only stages whose name contains one of these")
    p.add_argument(
        "--dataset",
        default=None,
        metavar="DIR",
        help="a photo folder (e.g. ImageNet val images) for the MobileNet stage's dataset examples, SAE and "
        "universality probes; without it that stage uses images shipped by scikit-image (CC0/public domain)",
    )
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from visioncircuits.demo import run_demo
    from visioncircuits.device import pick_device
    from visioncircuits.errors import InputError

    try:
        index = run_demo(
            args.out,
            quick=args.quick,
            seed=args.seed,
            stages=args.stages,
            device=str(pick_device(args.device)),
            dataset=args.dataset,
        )
    except InputError as e:
        if str(e).startswith("dataset "):  # the library names its argument; the user typed the flag
            raise InputError(f"--{e}") from None
        raise
    print(f"wrote {index}")
    return 0
