"""``visioncircuits bench universality``: CKA of every layer pair of two models, minibatch
(constant memory) against the straightforward full-matrix computation, side by side.

Each method runs in a fresh process so its peak memory is its own: the table reports the
rise of the process's peak resident set (or CUDA peak allocation) above what loading the
models and libraries already used, the wall time (forward passes included, identical work
for both), and how far the minibatch values are from the full-batch ones.
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DESCRIPTION = (
    "CKA of every layer pair of two models on N images: minibatch vs full-matrix (time, peak memory, agreement)"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    shared = os.environ.get("VISIONCIRCUITS_SHARED", "../shared")
    p.add_argument("--models", nargs=2, default=["cifar10-resnet20", "cifar10-resnet56"], metavar="MODEL")
    p.add_argument(
        "--shared", default=shared, help="shared folder with weights/ (default $VISIONCIRCUITS_SHARED or ../shared)"
    )
    p.add_argument("--dataset", default=None, help="probe images (default SHARED/data/imagenet-samples)")
    p.add_argument("--images", type=int, nargs="+", default=[1000], help="numbers of images to run (default 1000)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--layers", default="main", help="main (default) or all")
    p.add_argument("--device", default=None)


def _peak_mb(device: str) -> float:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _worker(method: str, cfg: dict, queue) -> None:
    try:
        queue.put(_measure(method, cfg))
    except BaseException as e:  # report the failure to the parent instead of hanging it
        queue.put({"error": f"{type(e).__name__}: {e}"})


def _measure(method: str, cfg: dict) -> dict:
    import torch

    from visioncircuits.universality.matching import (
        BatchGrams,
        MinibatchCKA,
        full_cka_matrix,
    )
    from visioncircuits.universality.probes import (
        FolderProbes,
        resolve_layers,
        stream_activations,
    )
    from visioncircuits.zoo import load_model

    torch.set_num_threads(cfg["threads"])
    device = cfg["device"]
    models = {k: load_model(n, device=device) for k, n in zip("ab", cfg["models"])}
    layers = {k: resolve_layers(m, cfg["layers"]) for k, m in models.items()}
    size = max(int(m.spec.input_size) for m in models.values())
    probes = FolderProbes(cfg["dataset"], size, limit=cfg["n"])
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    base = _peak_mb(device)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    batches = (x for _, x in probes.batches(cfg["batch_size"]))
    stream = stream_activations(models, layers, batches, mode="flatten", progress=False)
    if method == "minibatch":
        acc = MinibatchCKA(len(layers["a"]), len(layers["b"]))
        ga, gb = BatchGrams(), BatchGrams()
        for feats in stream:
            acc.update_grams(ga(list(feats["a"].values())), gb(list(feats["b"].values())),
                             next(iter(feats["a"].values())).shape[0])
        matrix = acc.result()
    else:  # keep every activation, then full n x n grams
        keep: dict = {k: {layer: [] for layer in layers[k]} for k in models}
        for feats in stream:
            for k in feats:
                for layer, t in feats[k].items():
                    keep[k][layer].append(t)
        xs = [torch.cat(keep["a"][layer]) for layer in layers["a"]]
        ys = [torch.cat(keep["b"][layer]) for layer in layers["b"]]
        del keep
        matrix = full_cka_matrix(xs, ys, debiased=cfg["debiased"])
    seconds = time.perf_counter() - t0
    return {
        "matrix": matrix,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu0,
        "peak_mb": _peak_mb(device) - base,
        "pairs": int(matrix.size),
        "n": len(probes),
        "layers": (len(layers["a"]), len(layers["b"])),
    }


def _run(method: str, cfg: dict) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_worker, args=(method, cfg, q))
    proc.start()
    out = q.get()
    proc.join()
    if "error" in out:
        from visioncircuits.errors import InputError

        raise InputError(f"benchmark {method} failed: {out['error']}")
    return out


def _hub_with_shared(shared: Path) -> None:
    """Point TORCH_HOME at a temp cache holding the shared CIFAR weights (symlinks), if present."""
    weights = shared / "weights"
    if not weights.is_dir() or os.environ.get("VISIONCIRCUITS_BENCH_KEEP_HUB"):
        return
    home = Path(tempfile.mkdtemp(prefix="vc-bench-hub-"))
    ckpt = home / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    for f in weights.iterdir():
        (ckpt / f.name).symlink_to(f.resolve())
    os.environ["TORCH_HOME"] = str(home)


def run(args: argparse.Namespace) -> list[dict]:
    from visioncircuits.device import pick_device
    from visioncircuits.errors import InputError
    from visioncircuits.zoo import get_spec

    for m in args.models:
        get_spec(m)
    shared = Path(args.shared)
    dataset = Path(args.dataset) if args.dataset else shared / "data" / "imagenet-samples"
    if not dataset.is_dir():
        raise InputError(f"probe images not found at {dataset}; pass --dataset DIR or --shared DIR")
    if any(n < 4 for n in args.images) or args.batch_size < 4:
        raise InputError("--images and --batch-size must be at least 4")
    _hub_with_shared(shared)
    device = str(pick_device(args.device))
    rows = []
    for n in args.images:
        cfg = {
            "models": list(args.models),
            "dataset": str(dataset),
            "n": n,
            "batch_size": args.batch_size,
            "layers": args.layers,
            "device": device,
            "threads": int(os.environ.get("OMP_NUM_THREADS", 0)) or os.cpu_count() or 1,
            "debiased": True,
        }
        mini = _run("minibatch", cfg)
        full_unb = _run("full", cfg)
        full_b = _run("full", {**cfg, "debiased": False})
        ref = full_unb["matrix"]
        for name, res in (
            ("minibatch (unbiased HSIC)", mini),
            ("full-matrix debiased", full_unb),
            ("full-matrix biased", full_b),
        ):
            m = res["matrix"]
            rows.append(
                {
                    "method": name,
                    "images": res["n"],
                    "layer pairs": res["pairs"],
                    "wall s": round(res["seconds"], 1),
                    "CPU s": round(res["cpu_seconds"], 1),
                    "peak extra MB": round(res["peak_mb"], 1),
                    "max |diff| vs full debiased": round(float(np.abs(m - ref).max()), 4),
                    "row argmax = full debiased": f"{int((m.argmax(1) == ref.argmax(1)).sum())}/{m.shape[0]}",
                }
            )
    return rows
