"""Reproduce the MobileNetV2 SAE numbers: results/mobilenet_sae.json (+ the SAE in models/sae/).

An SAE on the middle main layer ``blocks.9`` of the shipped MobileNetV2, trained on random
crops/flips of 800 of the 1,000 sample photos and evaluated on the other 200 (every 5th file
in sorted order: ``sae.stream.split_folder``), with the ``sae eval`` metrics; then the
coherence of top-9 photos (share from one WordNet group, share of dogs) for every latent vs
every neuron of the layer vs random directions and random photo sets; then a small latent
gallery (renders + top photos) written outside the repo (it holds photo crops).

    python scripts/reproduce_mobilenet_sae.py [--photos DIR] [--out results/mobilenet_sae.json]

Deterministic for a given seed on one machine; resumes training from its checkpoint.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from visioncircuits.atomic import write_json  # noqa: E402
from visioncircuits.data import ImageFolder, list_images  # noqa: E402
from visioncircuits.featvis.class_coherence import coherence_summary, dog_share, top_group_share  # noqa: E402
from visioncircuits.sae.models import flatten_positions  # noqa: E402
from visioncircuits.sae.stream import split_folder  # noqa: E402
from visioncircuits.sae.train import TrainConfig, train_sae  # noqa: E402
from visioncircuits.zoo import load_model  # noqa: E402
from visioncircuits.zoo.imagenet_classes import imagenet_class_names, imagenet_wnids  # noqa: E402

LAYER = "blocks.9"
DEFAULT_PHOTOS = Path(os.environ.get("VISIONCIRCUITS_SHARED", REPO.parent / "shared")) / "data" / "imagenet-samples"
K_TOP = 9


def photo_classes(paths) -> list[int]:
    """Class index of each sample photo from its ``<wnid>_<name>.jpg`` file name."""
    index = {w: i for i, w in enumerate(imagenet_wnids())}
    return [index[Path(p).name.split("_", 1)[0]] for p in paths]


@torch.no_grad()
def layer_cache(model, photos: Path, cache: Path) -> tuple[list, torch.Tensor]:
    """``blocks.9`` activations (N, 64, 14, 14) of every photo's 224-px centre crop, in sorted file order;
    cached on disk so a rerun (or a killed run) does not repeat the slow pass."""
    if cache.exists():
        paths, acts = torch.load(cache, weights_only=True)
        return [Path(p) for p in paths], acts
    paths, chunks = [], []
    for batch_paths, imgs in ImageFolder(photos, int(model.spec.input_size)).batches(50):
        chunks.append(model.run_with_cache(imgs.to(model.device), [LAYER])[LAYER].cpu())
        paths.extend(batch_paths)
    acts = torch.cat(chunks)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    torch.save(([str(p) for p in paths], acts), tmp)
    tmp.replace(cache)
    return paths, acts


class SampleStream:
    """In-memory (M, C) samples for ``train_sae``: shuffled minibatches forever, and ``sample(n)``."""

    def __init__(self, samples: torch.Tensor, seed: int = 0):
        self.samples, self.seed = samples, int(seed)

    def sample(self, n: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed + 12345)
        return self.samples[torch.randperm(len(self.samples), generator=g)[:n]]

    def batches(self, batch_size: int, start: int = 0):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + start)
        while True:
            perm = torch.randperm(len(self.samples), generator=g)
            for i in range(0, len(perm) - batch_size + 1, batch_size):
                yield self.samples[perm[i : i + batch_size]]


def tail_logits(model, acts: torch.Tensor) -> torch.Tensor:
    """Logits from ``blocks.9`` activations: the rest of MobileNetV2 (blocks 10-16, head, pool, classifier)."""
    net = model.net
    x = acts.to(model.device)
    for block in list(net.blocks)[10:]:
        x = block(x)
    x = net.pool(net.head_relu6(net.head(x)))
    return net.classifier(torch.flatten(x, 1))


@torch.no_grad()
def tail_check(model, photos: Path, paths, acts: torch.Tensor) -> float:
    """Max |logit difference| between the full model and ``tail_logits`` on cached activations (should be ~0)."""
    from visioncircuits.data import load_image

    imgs = torch.stack([load_image(p, int(model.spec.input_size)) for p in paths]).to(model.device)
    return float((model(imgs) - tail_logits(model, acts)).abs().max())


@torch.no_grad()
def evaluate_cached(model, sae, acts: torch.Tensor, labels) -> dict:
    """``sae.metrics.evaluate_sae``'s metrics from cached layer activations: the same statistics
    (``ReconstructionStats``) and losses (clean / SAE splice / zero ablation), with the model's
    tail run from the layer, so no image passes through the first ten blocks again."""
    from visioncircuits.sae.metrics import ReconstructionStats, _loss
    from visioncircuits.sae.models import unflatten_positions

    stats = ReconstructionStats(sae.d_sae)
    loss = {"clean": 0.0, "sae": 0.0, "zero": 0.0}
    for lo in range(0, len(acts), 50):
        a = acts[lo : lo + 50]
        lab = labels[lo : lo + 50] if labels is not None else None
        x = flatten_positions(a).to(sae.W_enc.device, sae.W_enc.dtype)
        z = sae.encode(x)
        x_hat = sae.decode(z)
        stats.update(x, x_hat, z)
        clean = tail_logits(model, a)
        loss["clean"] += float(_loss(clean, clean, lab))
        loss["sae"] += float(_loss(tail_logits(model, unflatten_positions(sae(x), a.shape)), clean, lab))
        loss["zero"] += float(_loss(tail_logits(model, torch.zeros_like(a)), clean, lab))
    out = stats.result()
    per = {k: v / len(acts) for k, v in loss.items()}
    gap = per["zero"] - per["clean"]
    out.update(
        images=len(acts),
        loss_clean=per["clean"],
        loss_sae=per["sae"],
        loss_zero=per["zero"],
        loss_kind="cross_entropy" if labels is not None else "kl_to_clean",
        loss_recovered=(per["zero"] - per["sae"]) / gap,
    )
    return out


@torch.no_grad()
def unit_maxima(sae, acts: torch.Tensor, directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per photo, the spatial maximum of every neuron, SAE latent and random direction."""
    neur, lat, rnd = [], [], []
    for lo in range(0, len(acts), 50):
        a = acts[lo : lo + 50]
        n, c, h, w = a.shape
        flat = flatten_positions(a)
        neur.append(a.flatten(2).amax(2))
        lat.append(sae.encode(flat.to(sae.W_enc.dtype)).view(n, h * w, -1).amax(1).cpu())
        rnd.append((flat @ directions.to(flat)).view(n, h * w, -1).amax(1))
    return torch.cat(neur), torch.cat(lat), torch.cat(rnd)


def top_classes(values: torch.Tensor, classes: torch.Tensor, rows: torch.Tensor, k: int = K_TOP) -> list[list[int]]:
    """Top-k photos' classes per unit (columns of ``values``), among photo ``rows``; units that
    never fire there (max <= 0) are left out."""
    v = values[rows]
    out = []
    for u in range(v.shape[1]):
        if float(v[:, u].max()) <= 0:
            continue
        idx = v[:, u].topk(min(k, len(rows))).indices
        out.append(classes[rows[idx]].tolist())
    return out


def chance_baseline(classes: list[int], n_sets: int = 5000, k: int = K_TOP, seed: int = 0) -> dict:
    """Random k-photo sets: the coherence a unit with no preference gets."""
    rng = random.Random(seed)
    sets = [rng.sample(classes, min(k, len(classes))) for _ in range(n_sets)]
    return coherence_summary(sets)


def coherence_block(neur, lat, rnd, classes, rows) -> dict:
    cls = torch.tensor(classes)
    rows_t = torch.tensor(rows)
    res = {}
    for name, vals in (("neurons", neur), ("sae_latents", lat), ("random_directions", rnd)):
        tops = top_classes(vals, cls, rows_t)
        res[name] = coherence_summary(tops)
        res[name]["units_never_firing"] = int(vals.shape[1] - len(tops))
    res["random_photo_sets"] = chance_baseline([classes[r] for r in rows])
    res["photos"] = len(rows)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", default=str(DEFAULT_PHOTOS))
    ap.add_argument("--out", default=str(REPO / "results" / "mobilenet_sae.json"))
    ap.add_argument("--sae-dir", default=str(REPO / "models" / "sae" / "mobilenet-v2-blocks.9"))
    ap.add_argument(
        "--work", default="/tmp/mobilenet_sae_work", help="latent gallery (holds photo crops: keep outside the repo)"
    )
    ap.add_argument("--latents", type=int, default=256)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--gallery-latents", type=int, default=8)
    ap.add_argument("--render-steps", type=int, default=20)
    ap.add_argument("--render-size", type=int, default=96)
    ap.add_argument(
        "--img-dir", default=str(REPO / "docs" / "img"), help="where the latent strip PNG goes ('' for none)"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t_all, c_all = time.perf_counter(), time.process_time()
    model = load_model("mobilenet-v2")
    photos = Path(args.photos)
    paths = list_images(photos)
    train, held = split_folder(photos)

    # 1. one pass over the photos at 224 px (centre crops): blocks.9 activations, cached
    t0, _c0 = time.perf_counter(), time.process_time()
    ordered, acts = layer_cache(model, photos, Path(args.work) / "blocks9_acts.pt")
    cache_s = time.perf_counter() - t0
    held_set = {str(p) for p in held}
    held_rows = [i for i, p in enumerate(ordered) if str(p) in held_set]
    train_rows = [i for i in range(len(ordered)) if i not in set(held_rows)]
    classes = photo_classes(ordered)

    # 2. train on positions of the 800 training photos (156,800 samples), evaluate on the 200
    t1, c1 = time.perf_counter(), time.process_time()
    cfg = TrainConfig(
        d_sae=args.latents,
        k=args.k,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        checkpoint_every=100,
    )
    meta = {
        "model": "mobilenet-v2",
        "layer": LAYER,
        "layer_shape": list(acts.shape[1:]),
        "training_data": {
            "kind": "folder",
            "path": str(photos.resolve()),
            "train_images": len(train_rows),
            "heldout_images": len(held_rows),
            "split": "every 5th file (sorted) held out",
            "augment": "none: centre crops at 224 px, every one of the 14x14 positions is a sample",
        },
    }
    sae = train_sae(
        SampleStream(flatten_positions(acts[train_rows]), seed=args.seed),
        acts.shape[1],
        cfg,
        out_dir=args.sae_dir,
        meta=meta,
        progress=False,
    )
    train_s, train_cpu = time.perf_counter() - t1, time.process_time() - c1
    labels = torch.tensor([classes[i] for i in held_rows])
    metrics = evaluate_cached(model, sae, acts[held_rows], None)
    ce = evaluate_cached(model, sae, acts[held_rows], labels)
    check = tail_check(model, photos, ordered[:4], acts[:4])
    from visioncircuits.sae.io import save_sae

    save_sae(sae, args.sae_dir, extra_cfg={"metrics": metrics})
    eval_s = time.perf_counter() - t1 - train_s

    # 2. coherence of top-9 photos: latents vs neurons vs random directions
    t2 = time.perf_counter()
    gen = torch.Generator().manual_seed(args.seed + 1)
    c = acts.shape[1]
    directions = torch.randn(c, args.latents, generator=gen)
    directions = directions / directions.norm(dim=0, keepdim=True)
    neur, lat, rnd = unit_maxima(sae, acts, directions)
    all_rows = list(range(len(ordered)))
    coherence = {
        "all_1000_photos": coherence_block(neur, lat, rnd, classes, all_rows),
        "heldout_200_photos": coherence_block(neur, lat, rnd, classes, held_rows),
    }
    # the most coherent latents and neurons, for the gallery and the text
    cls_t = torch.tensor(classes)

    def ranked(vals, prefix):
        rows = []
        for u in range(vals.shape[1]):
            if float(vals[:, u].max()) <= 0:
                continue
            top = cls_t[vals[:, u].topk(K_TOP).indices].tolist()
            rows.append(
                {
                    "unit": f"{prefix}{u}",
                    "index": u,
                    "top_group_share": top_group_share(top),
                    "dog_share": dog_share(top),
                    "top_classes": top,
                }
            )
        return sorted(rows, key=lambda r: (-r["top_group_share"], -r["dog_share"], r["index"]))

    lat_rank, neur_rank = ranked(lat, "latent "), ranked(neur, f"{LAYER}:")
    coherence_s = time.perf_counter() - t2

    result = {
        "model": "mobilenet-v2",
        "layer": LAYER,
        "layer_shape": list(model.resolve_layer(LAYER).shape),
        "sae": {
            "dir": os.path.relpath(args.sae_dir, REPO),
            "d_sae": args.latents,
            "k": args.k,
            "architecture": "topk",
            "steps": args.steps,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "seed": args.seed,
        },
        "data": {
            "photos": len(paths),
            "train_photos": len(train),
            "heldout_photos": len(held),
            "split": "every 5th file in sorted order held out (sae.stream.split_folder)",
            "train_samples": len(train_rows) * acts.shape[2] * acts.shape[3],
            "train_augment": "none (centre crops at 224 px); all 14x14 positions of each photo are samples",
        },
        "eval_heldout_kl": metrics,
        "eval_heldout_ce": {
            k: ce[k] for k in ("loss_clean", "loss_sae", "loss_zero", "loss_kind", "loss_recovered", "images")
        },
        "coherence": coherence,
        "coherence_definition": "top-9 photos of each unit by spatial-max activation at 224 px; top_group_share "
        "= share of "
        "them in their most common group (zoo.imagenet_groups: Restricted-ImageNet "
        "ranges, ungrouped "
        "classes are groups of one); dog_share = share of the 118 dog classes; "
        "dog_units = units "
        "with dog_share >= 2/3; random_directions = unit-norm Gaussian directions in "
        "the layer's "
        "channel space, same count as latents; random_photo_sets = 5000 random 9-photo sets",
        "most_coherent_latents": lat_rank[:10],
        "most_coherent_neurons": neur_rank[:10],
        "gallery": "pending (written after the latent renders)",
        "tail_check_max_abs_logit_diff": check,
        "runtime": {
            "activation_pass_s": round(cache_s, 1),
            "train_s": round(train_s, 1),
            "train_cpu_s": round(train_cpu, 1),
            "eval_s": round(eval_s, 1),
            "coherence_s": round(coherence_s, 1),
            "total_s": round(time.perf_counter() - t_all, 1),
            "total_cpu_s": round(time.process_time() - c_all, 1),
            "threads": args.threads,
            "note": "2 CPU cores shared with other jobs",
        },
        "command": "python scripts/reproduce_mobilenet_sae.py",
    }
    write_json(Path(args.out), result)  # the numbers first: the renders below are slow on a loaded machine

    # 3. latent gallery: the most coherent latents, rendered (stride-aware); their top photos' classes as card notes
    t3 = time.perf_counter()
    from visioncircuits.featvis import build_gallery

    chosen = [r["index"] for r in lat_rank[: args.gallery_latents]]
    names = imagenet_class_names()
    notes = {
        r["index"]: "top-9 photos: " + ", ".join(names[c] for c in r["top_classes"])
        for r in lat_rank[: args.gallery_latents]
    }
    gal = build_gallery(
        model,
        LAYER,
        Path(args.work) / "sae_gallery",
        units=chosen,
        unit_spec=f"sae:{args.sae_dir}",
        steps=args.render_steps,
        size=args.render_size,
        transforms="stride_aware",
        progress=False,
        unit_notes=notes,
    )
    recs = [json.loads(p.read_text()) for p in sorted((Path(args.work) / "sae_gallery" / "units").glob("*/unit.json"))]
    gallery_s = time.perf_counter() - t3
    if recs and args.img_dir:  # a strip of latent renders (renders only, never photos)
        import torch.nn.functional as F

        from visioncircuits.atomic import write_png
        from visioncircuits.data import load_image

        by_index = {r["index"]: r for r in recs}
        imgs = torch.stack(
            [load_image(Path(args.work) / "sae_gallery" / by_index[i]["vis"]) for i in chosen[:8] if i in by_index]
        )
        imgs = F.interpolate(imgs, size=(96, 96), mode="bilinear", antialias=True, align_corners=False)
        cells = []
        for j, im in enumerate(imgs):
            cells += ([torch.ones(3, 96, 2)] if j else []) + [im]
        write_png(Path(args.img_dir) / "mobilenet_sae_latents.png", torch.cat(cells, dim=2))

    result["gallery"] = {
        "latents": chosen,
        "render_steps": args.render_steps,
        "render_size": args.render_size,
        "transforms": "stride_aware",
        "dir": str(gal.out_dir),
        "rendered": len(recs),
        "values": {r["unit"]: r["value"] for r in recs},
        "figure": "docs/img/mobilenet_sae_latents.png (first 8 gallery latents)",
    }
    result["runtime"].update(
        gallery_s=round(gallery_s, 1),
        total_s=round(time.perf_counter() - t_all, 1),
        total_cpu_s=round(time.process_time() - c_all, 1),
    )
    write_json(Path(args.out), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
