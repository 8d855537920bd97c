"""``visioncircuits toyworld train|eval|sample``: the toy world from the command line."""

from __future__ import annotations

import argparse

import torch


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("toyworld", help="toy world: train and evaluate toy-zoo models, sample images")
    cmds = p.add_subparsers(dest="toy_command", metavar="ACTION")
    cmds.required = True

    t = cmds.add_parser(
        "train",
        help="train toy-<ARCH>-s<SEED> (or toy-<ARCH>-u-s<SEED> with --unsupervised) on fresh images; "
        "resumes if interrupted",
    )
    t.add_argument("arch", help="vgg, resnet, inception or narrow")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument(
        "--out", default="models/toy", help="folder for <name>.safetensors and <name>.md (default models/toy)"
    )
    t.add_argument("--steps", type=int, default=None, help="optimiser steps (default: the zoo's setting)")
    t.add_argument("--batch", type=int, default=64)
    t.add_argument(
        "--aux-weight",
        type=float,
        default=None,
        help="weight of the auxiliary primitive loss (default: the zoo's setting)",
    )
    t.add_argument(
        "--unsupervised",
        action="store_true",
        help="class loss only, no auxiliary primitive loss: writes toy-<ARCH>-u-s<SEED>",
    )
    t.add_argument(
        "--data-cache",
        default=None,
        metavar="DIR",
        help="keep generated training batches in DIR and reuse them for other models of the same seed (speed only)",
    )
    t.add_argument("--checkpoint-every", type=int, default=None, metavar="STEPS",
                   help="steps between resumable checkpoints (default 100)")
    t.add_argument("--eval-n", type=int, default=2000, help="held-out images for the card's accuracy (0: skip)")
    t.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (default 1; shared machines train faster so)"
    )
    t.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    t.set_defaults(func=run_train)

    e = cmds.add_parser("eval", help="held-out accuracy of MODEL on N newly generated images")
    e.add_argument("model", help="a zoo name (toy-vgg-s0) ...")
    e.add_argument("--weights", default=None, help="a .safetensors file instead of the zoo's weights")
    e.add_argument("--n", type=int, default=2000)
    e.add_argument("--seed", type=int, default=None, help="image seed (default: the held-out seed)")
    e.add_argument("--device", default=None)
    e.set_defaults(func=run_eval)

    s = cmds.add_parser("sample", help="write a PNG grid of generated images")
    s.add_argument("--n", type=int, default=64)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default="toyworld.png")
    s.set_defaults(func=run_sample)


def run_train(args: argparse.Namespace) -> int:
    from visioncircuits.device import pick_device
    from visioncircuits.errors import InputError
    from visioncircuits.toyworld.zoo_build import build_zoo_model

    if args.threads < 1:
        raise InputError(f"--threads must be >= 1, got {args.threads}")
    if args.unsupervised and args.aux_weight is not None:
        raise InputError("--unsupervised trains without the auxiliary loss: drop --aux-weight")
    torch.set_num_threads(args.threads)
    res = build_zoo_model(
        args.arch,
        args.seed,
        args.out,
        steps=args.steps,
        batch=args.batch,
        eval_n=args.eval_n,
        aux_weight=args.aux_weight,
        supervised=not args.unsupervised,
        data_cache=args.data_cache,
        device=str(pick_device(args.device)),
        threads=args.threads,
        checkpoint_every=args.checkpoint_every,
    )
    acc = (
        f", held-out accuracy {res['accuracy']:.4f} on {res['eval_n']} images"
        if res.get("accuracy") is not None
        else ""
    )
    print(f"wrote {res['weights']} ({res['train_seconds']:.0f} s training{acc})")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from visioncircuits.device import pick_device
    from visioncircuits.errors import InputError
    from visioncircuits.toyworld import CLASSES
    from visioncircuits.toyworld.evaluate import accuracy
    from visioncircuits.toyworld.train import EVAL_SEED
    from visioncircuits.zoo import load_model

    if args.n < 1:
        raise InputError(f"--n must be >= 1, got {args.n}")
    model = load_model(args.model, weights=args.weights, device=pick_device(args.device))
    if tuple(model.spec.class_names or ()) != tuple(CLASSES):
        raise InputError(f"{args.model} is not a toy-world model (its classes are not the toy classes)")
    acc = accuracy(model, n=args.n, seed=EVAL_SEED if args.seed is None else args.seed)
    print(f"{args.model}: held-out accuracy {acc:.4f} on {args.n} fresh images")
    return 0


def run_sample(args: argparse.Namespace) -> int:
    from visioncircuits.atomic import write_png
    from visioncircuits.demo.stage_10_toyzoo import grid_image
    from visioncircuits.errors import InputError
    from visioncircuits.toyworld import generate

    if args.n < 1:
        raise InputError(f"--n must be >= 1, got {args.n}")
    b = generate(args.n, seed=args.seed)
    write_png(args.out, grid_image(b.images, nrow=8))
    print(f"wrote {args.out}")
    return 0
