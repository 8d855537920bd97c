"""``visioncircuits activations MODEL LAYER --dataset DIR --out STORE``: harvest a layer into an activation store."""
from __future__ import annotations

import argparse

from visioncircuits.cli.ray_option import add_ray_option, ray_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("activations", help="harvest a layer's activations over an image folder into a chunked store "
                                           "(resumable, shardable; SAE training reads it with `sae train --store`)")
    p.add_argument("model")
    p.add_argument("layer")
    p.add_argument("--dataset", required=True, help="image folder (files in sorted-path order, centre crops)")
    p.add_argument("--out", required=True, help="store folder (manifest.json + chunks/*.safetensors)")
    p.add_argument("--positions", type=int, default=None,
                   help="random spatial positions kept per image, seeded from --seed and the image path (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shard", default=None, help="K/N: do every N-th chunk from K-1 (run the N shards anywhere)")
    p.add_argument("--chunk-size", type=int, default=256, help="images per chunk file (the unit of resume)")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    p.add_argument("--dtype", default="float32", choices=("float32", "float16"), help="stored precision")
    p.add_argument("--weights", default=None, help="model weights (default: published)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true")
    add_ray_option(p)
    p.set_defaults(func=run)


def check_args(args: argparse.Namespace) -> None:
    """Every flag checked before the model loads (one-line errors, nothing written)."""
    from pathlib import Path

    from visioncircuits.data import list_images
    from visioncircuits.errors import InputError
    from visioncircuits.featvis.gallery import parse_shard

    for flag in ("chunk_size", "batch_size", "threads", "positions"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise InputError(f"--{flag.replace('_', '-')} must be positive, got {value}")
    parse_shard(args.shard)
    if not list_images(args.dataset):
        raise InputError(f"no images found in {args.dataset}")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise InputError(f"--out must be a folder, but {args.out} is a file")


def run(args: argparse.Namespace) -> int:
    import torch

    from visioncircuits.device import pick_device
    from visioncircuits.store import harvest_activations
    from visioncircuits.zoo import load_model

    check_args(args)
    ray = ray_config(args)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    model = load_model(args.model, weights=args.weights, device=pick_device(args.device))
    kwargs = dict(positions=args.positions, seed=args.seed, shard=args.shard, chunk_images=args.chunk_size,
                  batch_size=args.batch_size, dtype=args.dtype, weights=args.weights)
    if ray is None:
        res = harvest_activations(model, args.layer, args.dataset, args.out, progress=not args.no_progress, **kwargs)
    else:
        from visioncircuits.distributed.activations import ray_harvest

        res = ray_harvest(model, args.layer, args.dataset, args.out, ray.replace(progress=not args.no_progress),
                          **kwargs)
    m = res.manifest
    state = "complete" if res.complete else f"{m['finished_chunks']} of {m['n_chunks']} chunks finished (other shards?)"
    print(f"store {res.out}: {m['rows']} rows of d={m['d']} ({len(res.written)} chunks written, "
          f"{len(res.reused)} already finished); {state}")
    return 0
