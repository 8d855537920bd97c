"""``visioncircuits bench sae``: this package's TopK SAE vs ``overcomplete``'s, same data.

Both train on the same activation samples (a model layer over random crops of an image
folder), with the same dictionary size, k, batch size, learning rate, optimiser (Adam) and
number of steps, on inputs scaled to unit mean norm; explained variance is measured on the
same held-out samples (centre crops of held-out images). Rows: visioncircuits TopK with the
AuxK dead-latent loss; overcomplete ``TopKSAE`` with its ``top_k_auxiliary_loss`` (the
like-for-like objective) and with plain MSE (its fastest setting). Implementations alternate
``--repeats`` times so a shared, noisy CPU slows each the same; the table reports the median.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from pathlib import Path

import torch

from visioncircuits.errors import InputError

log = logging.getLogger(__name__)

DESCRIPTION = (
    "train TopK SAEs with visioncircuits and with overcomplete on the same data: samples/s and explained variance"
)


def _default_shared() -> Path:
    return Path(os.environ.get("VISIONCIRCUITS_SHARED", Path.cwd().parent / "shared"))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shared", default=None, help="the shared folder (default: $VISIONCIRCUITS_SHARED or ../shared)")
    p.add_argument("--dataset", default=None, help="image folder (default: SHARED/data/imagenet-samples)")
    p.add_argument("--model", default="cifar10-resnet20")
    p.add_argument(
        "--weights", default=None, help="model weights (default: SHARED/weights/<published file> if present)"
    )
    p.add_argument("--layer", default="layer3")
    p.add_argument("--latents", type=int, default=1024)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--train-samples", type=int, default=262144)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads for both (default: torch's choice)")
    p.add_argument("--device", default=None)
    p.add_argument("--architecture", default="topk", choices=("topk", "batchtopk"),
                   help="topk (default) or batchtopk (overcomplete's BatchTopKSAE on its side)")
    p.add_argument("--profile", type=int, default=0, metavar="STEPS",
                   help="also profile this many training steps of ours: rows with each op's share of CPU time")


def _import_overcomplete():
    """overcomplete 0.3 imports ``matplotlib.cm.get_cmap``, removed in matplotlib 3.9; alias it."""
    try:
        import matplotlib.cm as cm

        if not hasattr(cm, "get_cmap"):
            import matplotlib

            cm.get_cmap = matplotlib.colormaps.get_cmap  # pyright: ignore[reportAttributeAccessIssue]
    except ImportError:
        pass
    try:
        from overcomplete.sae import BatchTopKSAE, TopKSAE
        from overcomplete.sae.losses import top_k_auxiliary_loss
        from overcomplete.sae.train import train_sae as oc_train
    except ImportError as e:
        raise InputError(
            f"the overcomplete package is needed for this benchmark (pip install overcomplete): {e}"
        ) from None
    return {"topk": TopKSAE, "batchtopk": BatchTopKSAE}, top_k_auxiliary_loss, oc_train


def collect(args, model) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, held-out) activation samples of ``args.layer``."""
    from visioncircuits.data import ImageFolder
    from visioncircuits.sae.models import flatten_positions
    from visioncircuits.sae.stream import ActivationStream, FolderSource, split_folder

    train_paths, held = split_folder(args.dataset)
    src = FolderSource(args.dataset, size=int(model.spec.input_size), paths=train_paths)
    train = ActivationStream(model, args.layer, src, image_batch=64).sample(args.train_samples, start=0)
    ev = [flatten_positions(model.run_with_cache(imgs.to(model.device), [args.layer])[args.layer])
          for _, imgs in ImageFolder(args.dataset, int(model.spec.input_size), paths=held).batches(64)]
    return train, torch.cat(ev)


def _ev(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    return float(1 - (x - x_hat).pow(2).sum() / (x - x.mean(0)).pow(2).sum())


class _Batches:
    """Shuffled minibatches of a sample tensor for exactly ``steps`` steps (overcomplete's loader)."""

    def __init__(self, x: torch.Tensor, batch: int, steps: int, seed: int = 0):
        self.x, self.batch, self.steps, self.seed = x, batch, steps, seed

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed)
        done = 0
        while True:
            perm = torch.randperm(len(self.x), generator=gen).to(self.x.device)
            for i in range(0, len(perm) - self.batch + 1, self.batch):
                if done == self.steps:
                    return
                yield self.x[perm[i:i + self.batch]]
                done += 1


def run_ours(args, train: torch.Tensor, held: torch.Tensor, device) -> dict:
    from visioncircuits.sae.metrics import reconstruction_metrics
    from visioncircuits.sae.stream import SampleStream
    from visioncircuits.sae.train import TrainConfig, train_sae

    cfg = TrainConfig(d_sae=args.latents, k=args.k, architecture=args.architecture, steps=args.steps,
                      batch_size=args.batch_size, lr=args.lr,
                      warmup_steps=min(50, args.steps // 10), init_samples=16384)
    t0 = time.perf_counter()
    sae = train_sae(SampleStream(train), train.shape[1], cfg, progress=False, device=device)
    secs = time.perf_counter() - t0
    m = reconstruction_metrics(sae, held)
    return {"seconds": secs, "ev": m["explained_variance"], "l0": m["l0"], "dead": m["dead_fraction"]}


def run_overcomplete(args, train: torch.Tensor, held: torch.Tensor, device, aux: bool) -> dict:
    classes, aux_loss, oc_train = _import_overcomplete()
    scale = 1.0 / float(train.norm(dim=1).mean())  # the same unit-mean-norm inputs ours gets
    torch.manual_seed(0)
    model = classes[args.architecture](train.shape[1], args.latents, top_k=args.k, device=str(device))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    crit = aux_loss if aux else (lambda x, x_hat, *_: (x - x_hat).square().mean())
    t0 = time.perf_counter()
    oc_train(
        model,
        _Batches(train * scale, args.batch_size, args.steps),
        crit,
        opt,
        nb_epochs=1,
        monitoring=0,
        device=str(device),
    )
    secs = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        xs = held.to(device) * scale
        _, z, x_hat = model(xs)
    return {
        "seconds": secs,
        "ev": _ev(xs, x_hat),
        "l0": float((z != 0).float().sum(1).mean()),
        "dead": float(((z != 0).sum(0) == 0).float().mean()),
    }


def run(args: argparse.Namespace) -> list[dict]:
    from visioncircuits.device import pick_device
    from visioncircuits.zoo import get_spec, load_model

    shared = Path(args.shared) if args.shared else _default_shared()
    args.dataset = args.dataset or str(shared / "data" / "imagenet-samples")
    if not Path(args.dataset).is_dir():
        raise InputError(f"image folder not found: {args.dataset} (pass --dataset or --shared)")
    for name in ("latents", "k", "batch_size", "steps", "train_samples", "repeats"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be positive")
    if args.threads:
        torch.set_num_threads(args.threads)
    weights = args.weights
    spec = get_spec(args.model)
    if weights is None and spec.filename and (shared / "weights" / spec.filename).exists():
        weights = str(shared / "weights" / spec.filename)
    device = pick_device(args.device)
    model = load_model(args.model, weights=weights, device=device)
    train, held = collect(args, model)
    train, held = train.to(device), held.to(device)
    _import_overcomplete()
    arch, oc = {"topk": ("TopK", "TopKSAE"), "batchtopk": ("BatchTopK", "BatchTopKSAE")}[args.architecture]
    impls = {
        f"visioncircuits {arch} + AuxK": lambda: run_ours(args, train, held, device),
        f"overcomplete {oc} + top_k_auxiliary_loss": lambda: run_overcomplete(args, train, held, device, aux=True),
        f"overcomplete {oc} + MSE only": lambda: run_overcomplete(args, train, held, device, aux=False),
    }
    results: dict[str, list[dict]] = {k: [] for k in impls}
    for rep in range(args.repeats):
        for name, fn in impls.items():
            log.info("bench sae: %s (repeat %d)", name, rep + 1)
            results[name].append(fn())
    samples = args.steps * args.batch_size
    rows = []
    base = statistics.median(r["seconds"] for r in results[f"overcomplete {oc} + top_k_auxiliary_loss"])
    for name, rs in results.items():
        secs = statistics.median(r["seconds"] for r in rs)
        rows.append({
            "implementation": name,
            "samples/s": round(samples / secs),
            "train s": round(secs, 2),
            "speedup vs overcomplete+aux": round(base / secs, 2),
            "explained var (held-out)": round(statistics.median(r["ev"] for r in rs), 4),
            "L0": round(statistics.median(r["l0"] for r in rs), 2),
            "dead frac": round(statistics.median(r["dead"] for r in rs), 4),
        })
    for r in rows:
        r["setup"] = (
            f"{args.model} {args.layer} d_in={train.shape[1]} d_sae={args.latents} k={args.k} batch={args.batch_size} "
            f"steps={args.steps} train={len(train)} held-out={len(held)} "
            f"threads={torch.get_num_threads()} {device.type} float32"
        )
    if args.profile:
        rows.extend(profile_ours(args, train, device))
    return rows


def profile_ours(args, train: torch.Tensor, device) -> list[dict]:
    """Where our training time goes: torch.profiler over ``args.profile`` steps, top ops by self CPU time."""
    from torch.profiler import profile

    from visioncircuits.sae.stream import SampleStream
    from visioncircuits.sae.train import TrainConfig, train_sae

    cfg = TrainConfig(d_sae=args.latents, k=args.k, architecture=args.architecture, steps=args.profile,
                      batch_size=args.batch_size, lr=args.lr, warmup_steps=1, init_samples=16384)
    with profile() as prof:
        train_sae(SampleStream(train), train.shape[1], cfg, progress=False, device=device)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:10]
    return [{"implementation": f"profile ({args.profile} steps, incl. init): {e.key}", "samples/s": "",
             "train s": round(e.self_cpu_time_total / 1e6, 2), "speedup vs overcomplete+aux": "",
             "explained var (held-out)": "", "L0": "", "dead frac": "",
             "share of cpu": round(e.self_cpu_time_total / total, 3),
             "setup": f"{e.count} calls"} for e in top]
