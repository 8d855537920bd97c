"""``visioncircuits bench sae_ddp``: activation store throughput and SAE samples/s for 1 vs N DDP processes.

Three stages on one store: harvesting it (``harvest_activations``: images/s), reading it
(``ActivationStore.batches``: rows/s and MB/s, from the page cache after the harvest), and
training the same SAE from it with 1, 2, ... gloo processes (``train_store_local``, one torch
thread per process; samples/s as the trainer reports it, after start-up). Wall times on a
shared machine are noisy: the rows also give CPU seconds and the load average, and the last
column checks that the N-process SAE equals the 1-process one.
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import torch

from visioncircuits.errors import InputError

DESCRIPTION = "activation store harvest/read throughput and SAE samples/s for 1 vs N data-parallel processes"


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shared", default=None, help="the shared folder (default: $VISIONCIRCUITS_SHARED or ../shared)")
    p.add_argument("--dataset", default=None, help="image folder (default: SHARED/data/imagenet-samples)")
    p.add_argument("--images", type=int, default=256, help="first N images of the folder (linked, not copied)")
    p.add_argument("--model", default="mobilenet-v2")
    p.add_argument("--layer", default="blocks.13")
    p.add_argument("--positions", type=int, default=None, help="positions per image (default: all)")
    p.add_argument("--latents", type=int, default=2048)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=2048)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--worlds", default="1,2", help="process counts to compare, e.g. 1,2")
    p.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")


def _image_subset(folder: Path, n: int, dest: Path) -> Path:
    from visioncircuits.data import list_images

    paths = list_images(folder)[:n]
    if not paths:
        raise InputError(f"no images found in {folder}")
    dest.mkdir(parents=True, exist_ok=True)
    for p in paths:
        link = dest / p.name
        if not link.exists():
            link.symlink_to(p.resolve())
    return dest


def run(args: argparse.Namespace) -> list[dict]:
    from visioncircuits.device import deterministic
    from visioncircuits.sae.distributed_local import train_store_local
    from visioncircuits.sae.io import load_sae
    from visioncircuits.store import ActivationStore, harvest_activations
    from visioncircuits.zoo import load_model

    shared = Path(args.shared or os.environ.get("VISIONCIRCUITS_SHARED", Path.cwd().parent / "shared"))
    dataset = Path(args.dataset or shared / "data" / "imagenet-samples")
    if not dataset.is_dir():
        raise InputError(f"image folder not found: {dataset} (pass --dataset or --shared)")
    worlds = [int(w) for w in str(args.worlds).split(",")]
    if any(w < 1 for w in worlds) or args.steps < 1 or args.images < 1:
        raise InputError("--worlds, --steps and --images must be positive")
    work = Path(args.work or tempfile.mkdtemp(prefix="vc_bench_ddp_"))
    images = _image_subset(dataset, args.images, work / "images")
    rows = []
    model = load_model(args.model)
    with deterministic(threads=1):
        c0, t0 = _self_cpu(), time.perf_counter()
        res = harvest_activations(model, args.layer, images, work / "store", positions=args.positions,
                                  chunk_images=64, progress=False)
        wall, cpu = time.perf_counter() - t0, _self_cpu() - c0
    n_img = res.manifest["settings"]["dataset"]["n_images"]
    rows.append({"stage": "harvest (activations)", "processes": 1, "per_second": round(n_img / wall, 1),
                 "unit": "images/s", "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                 "load": round(os.getloadavg()[0], 1), "max_abs_diff_vs_1": None})
    store = ActivationStore(work / "store")
    it = store.batches(args.batch_size, seed=0)
    c0, t0 = _self_cpu(), time.perf_counter()
    n_read = sum(len(next(it)) for _ in range(20))
    wall, cpu = time.perf_counter() - t0, _self_cpu() - c0
    rows.append({"stage": f"read shuffled batches (d={store.d}, float32)", "processes": 1,
                 "per_second": round(n_read / wall), "unit": "rows/s", "wall_s": round(wall, 2),
                 "cpu_s": round(cpu, 2), "load": round(os.getloadavg()[0], 1), "max_abs_diff_vs_1": None,
                 "mb_per_s": round(n_read * store.d * 4 / wall / 1e6, 1)})
    cfg = {"d_sae": args.latents, "k": args.k, "steps": args.steps, "batch_size": args.batch_size,
           "warmup_steps": 5, "checkpoint_every": 10_000, "init_samples": 4096, "seed": 0}
    first = None
    for world in worlds:
        out = work / f"sae_w{world}"
        c0, t0 = _children_cpu(), time.perf_counter()
        record = train_store_local(world, str(work / "store"), cfg, [(str(out), None)], threads=1)[str(out)]
        wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
        w = load_sae(out).W_dec.detach()
        first = w if first is None else first
        rows.append({"stage": f"SAE train ({args.latents} latents, k={args.k}, batch {args.batch_size})",
                     "processes": world, "per_second": round(record["samples_per_second"]), "unit": "samples/s",
                     "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "load": round(os.getloadavg()[0], 1),
                     "max_abs_diff_vs_1": float(f"{float((w - first).abs().max()):.2g}")})
    torch.set_num_threads(torch.get_num_threads())
    return rows
