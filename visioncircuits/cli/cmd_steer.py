"""``visioncircuits steer MODEL UNIT --alpha A [A ...]``: add a unit's direction and watch the classes move."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

TOY_SEED = 777_000_000  # fresh toy scenes: neither training, labelling nor accuracy images


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "steer",
        help="feature steering: add alpha x a unit's direction at its layer; class shifts, dose-response, HTML page",
    )
    p.add_argument("model", help="registered model name (see `visioncircuits models`)")
    p.add_argument("unit", help="LAYER:CHANNEL, LAYER:CHANNEL@Y,X (one position) or sae:DIR:LATENT[@Y,X]")
    p.add_argument("--alpha", type=float, nargs="+", required=True,
                   help="steering strengths; with --scale max (default) in multiples of the unit's peak "
                        "activation on the images, negative values subtract")
    p.add_argument("--scale", default="max",
                   help="'max' (alpha x the unit's peak on the images, default), 'raw' (activation units) "
                        "or a positive number (raw units per alpha)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", default=None, help="image folder to steer on")
    src.add_argument("--toyworld", action="store_true", help="fresh toy-world scenes")
    p.add_argument("--n", type=int, default=64, help="images (first N of --dataset, or N toy scenes; default 64)")
    p.add_argument("--show", type=int, default=12, help="images shown on the page (default 12)")
    p.add_argument("--weights", default=None, help="weights file, or 'random' (default: the model's published weights)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    p.add_argument("--out", required=True, help="output folder (steer.json, steer.html)")
    p.set_defaults(func=run)


def _scale(text: str):
    from visioncircuits.errors import InputError

    if text in ("max", "raw"):
        return text
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not (math.isfinite(v) and v > 0):
        raise InputError(f"--scale must be max, raw or a positive number, got {text!r}")
    return v


def check_args(args: argparse.Namespace):
    """Every flag checked before the model loads; returns the parsed unit and scale."""
    from visioncircuits.data import check_image_folder
    from visioncircuits.errors import InputError
    from visioncircuits.units import parse_unit

    unit = parse_unit(args.unit)
    if unit.kind == "logit":
        raise InputError(f"cannot steer {args.unit}: steer a channel (LAYER:CHANNEL) or an SAE latent (sae:DIR:LATENT)")
    bad = [a for a in args.alpha if not math.isfinite(a)]
    if bad:
        raise InputError(f"--alpha values must be finite numbers, got {bad[0]}")
    scale = _scale(args.scale)
    if args.n < 1 or args.batch_size < 1 or args.show < 0:
        raise InputError("--n and --batch-size must be >= 1 and --show >= 0")
    if args.dataset is not None:
        if not Path(args.dataset).is_dir():
            raise InputError(f"--dataset must be an image folder: {args.dataset} not found")
        check_image_folder(args.dataset, "--dataset")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    return unit, scale


def load_images(args: argparse.Namespace, size: int):
    """(images, ids) from --dataset (first --n, sorted) or --toyworld."""
    import torch

    if args.toyworld:
        from visioncircuits.toyworld import CLASSES, generate

        batch = generate(args.n, seed=TOY_SEED, size=size)
        return batch.images, [f"toy #{i} ({CLASSES[int(c)]})" for i, c in enumerate(batch.labels)]
    from visioncircuits.data import ImageFolder

    folder = ImageFolder(args.dataset, size, limit=args.n)
    ids, imgs = [], []
    for paths, batch in folder.batches(args.batch_size):
        ids += [p.name for p in paths]
        imgs.append(batch)
    if not imgs:
        from visioncircuits.errors import InputError

        raise InputError(f"no readable images in {args.dataset}")
    return torch.cat(imgs), ids


def run(args: argparse.Namespace) -> int:
    from visioncircuits.atomic import write_json
    from visioncircuits.device import pick_device
    from visioncircuits.interventions.steering import steering_sweep
    from visioncircuits.interventions.steering_page import write_steering_page
    from visioncircuits.zoo import load_model

    unit, scale = check_args(args)
    model = load_model(args.model, weights=args.weights, device=pick_device(args.device))
    images, ids = load_images(args, int(model.spec.input_size))
    groups: dict = {}
    if model.spec.num_classes == 1000:
        from visioncircuits.zoo.imagenet_classes import DOG_CLASSES

        groups["dog"] = set(DOG_CLASSES)
    res = steering_sweep(model, unit, args.alpha, images, scale=scale, batch_size=args.batch_size,
                         groups=groups, image_ids=ids, progress=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "steer.json", res.to_dict())
    page = write_steering_page(out / "steer.html", res, images, show=args.show, groups=groups)
    print(f"steered {res.unit} ({res.layer}) of {res.model} on {res.n_images} images; "
          f"1 alpha = {res.scale_value:.4g} raw; class fed most by expanded weights: {res.target_name}")
    for a in res.alphas:
        gained = ", ".join(f"{g['class']} +{g['delta']}" for g in a.gained[:3]) or "-"
        extra = "".join(f", top-1 {g} {100 * s:.0f}%" for g, s in a.group_shares.items())
        print(f"  alpha {a.alpha:g}: {100 * a.changed:.0f}% of top-1 changed, "
              f"{100 * (a.target_share or 0):.0f}% now {res.target_name}{extra}; gained: {gained}")
    print(f"  json {out / 'steer.json'}\n  html {page}")
    return 0
