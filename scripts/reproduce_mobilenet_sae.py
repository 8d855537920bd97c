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
from visioncircuits.sae.io import load_sae  # noqa: E402
from visioncircuits.sae.metrics import evaluate_sae  # noqa: E402
from visioncircuits.sae.models import flatten_positions  # noqa: E402
from visioncircuits.sae.pipeline import train_layer_sae  # noqa: E402
from visioncircuits.sae.stream import split_folder  # noqa: E402
from visioncircuits.sae.train import TrainConfig  # noqa: E402
from visioncircuits.zoo import load_model  # noqa: E402
from visioncircuits.zoo.imagenet_classes import imagenet_wnids  # noqa: E402

LAYER = "blocks.9"
DEFAULT_PHOTOS = Path(os.environ.get("VISIONCIRCUITS_SHARED", REPO.parent / "shared")) / "data" / "imagenet-samples"
K_TOP = 9


def photo_classes(paths) -> list[int]:
    """Class index of each sample photo from its ``<wnid>_<name>.jpg`` file name."""
    index = {w: i for i, w in enumerate(imagenet_wnids())}
    return [index[Path(p).name.split("_", 1)[0]] for p in paths]


@torch.no_grad()
def unit_maxima(model, sae, photos, directions: torch.Tensor) -> tuple[list, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per photo (224 px centre crop), the spatial maximum of every neuron, latent and random direction."""
    paths, neur, lat, rnd = [], [], [], []
    for batch_paths, imgs in ImageFolder(photos, int(model.spec.input_size)).batches(50):
        acts = model.run_with_cache(imgs.to(model.device), [LAYER])[LAYER]
        n, c, h, w = acts.shape
        flat = flatten_positions(acts)  # (n*h*w, c)
        neur.append(acts.flatten(2).amax(2).cpu())
        lat.append(sae.encode(flat.to(sae.W_enc.dtype)).view(n, h * w, -1).amax(1).cpu())
        rnd.append((flat @ directions.to(flat)).view(n, h * w, -1).amax(1).cpu())
        paths.extend(batch_paths)
    return paths, torch.cat(neur), torch.cat(lat), torch.cat(rnd)


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
    ap.add_argument("--work", default="/tmp/mobilenet_sae_work", help="latent gallery (holds photo crops: keep outside the repo)")
    ap.add_argument("--latents", type=int, default=512)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--gallery-latents", type=int, default=12)
    ap.add_argument("--render-steps", type=int, default=24)
    ap.add_argument("--render-size", type=int, default=128)
    ap.add_argument("--img-dir", default=str(REPO / "docs" / "img"), help="where the latent strip PNG goes ('' for none)")
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

    # 1. train + evaluate (KL to the clean logits on the 200 held-out photos)
    t0, c0 = time.perf_counter(), time.process_time()
    cfg = TrainConfig(d_sae=args.latents, k=args.k, steps=args.steps, batch_size=args.batch_size, seed=args.seed,
                      checkpoint_every=100)
    sae, metrics = train_layer_sae(model, LAYER, cfg, args.sae_dir, dataset=photos, eval_images=len(held), progress=False)
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    # the same held-out photos with their true labels: loss recovered on cross-entropy too
    labels = torch.tensor(photo_classes(held))
    from visioncircuits.data import ImageFolder as _IF

    def labelled():
        lo = 0
        for _, imgs in _IF(photos, 224, paths=held).batches(50):
            yield imgs, labels[lo:lo + len(imgs)]
            lo += len(imgs)

    ce = evaluate_sae(model, sae, labelled(), LAYER, progress=False)

    # 2. coherence of top-9 photos: latents vs neurons vs random directions
    t1 = time.perf_counter()
    gen = torch.Generator().manual_seed(args.seed + 1)
    c = model.channels(LAYER)
    directions = torch.randn(c, args.latents, generator=gen)
    directions = directions / directions.norm(dim=0, keepdim=True)
    ordered, neur, lat, rnd = unit_maxima(model, sae, photos, directions)
    classes = photo_classes(ordered)
    held_set = {str(p) for p in held}
    all_rows = list(range(len(ordered)))
    held_rows = [i for i, p in enumerate(ordered) if str(p) in held_set]
    coherence = {"all_1000_photos": coherence_block(neur, lat, rnd, classes, all_rows),
                 "heldout_200_photos": coherence_block(neur, lat, rnd, classes, held_rows)}
    # the most coherent latents and neurons, for the gallery and the text
    cls_t = torch.tensor(classes)

    def ranked(vals, prefix):
        rows = []
        for u in range(vals.shape[1]):
            if float(vals[:, u].max()) <= 0:
                continue
            top = cls_t[vals[:, u].topk(K_TOP).indices].tolist()
            rows.append({"unit": f"{prefix}{u}", "index": u, "top_group_share": top_group_share(top),
                         "dog_share": dog_share(top), "top_classes": top})
        return sorted(rows, key=lambda r: (-r["top_group_share"], -r["dog_share"], r["index"]))

    lat_rank, neur_rank = ranked(lat, "latent "), ranked(neur, f"{LAYER}:")
    coherence_s = time.perf_counter() - t1

    # 3. latent gallery: the most coherent latents, rendered (stride-aware) with their top photos
    t2 = time.perf_counter()
    from visioncircuits.featvis import build_gallery

    chosen = [r["index"] for r in lat_rank[:args.gallery_latents]]
    gal = build_gallery(model, LAYER, Path(args.work) / "sae_gallery", units=chosen, unit_spec=f"sae:{args.sae_dir}",
                        dataset=photos, steps=args.render_steps, size=args.render_size, transforms="stride_aware",
                        progress=False, k=K_TOP)
    recs = [json.loads(p.read_text()) for p in sorted((Path(args.work) / "sae_gallery" / "units").glob("*/unit.json"))]
    gallery_s = time.perf_counter() - t2
    if recs and args.img_dir:  # a strip of latent renders (renders only, never photos)
        import torch.nn.functional as F

        from visioncircuits.atomic import write_png
        from visioncircuits.data import load_image

        by_index = {r["index"]: r for r in recs}
        imgs = torch.stack([load_image(Path(args.work) / "sae_gallery" / by_index[i]["vis"]) for i in chosen[:8] if i in by_index])
        imgs = F.interpolate(imgs, size=(96, 96), mode="bilinear", antialias=True, align_corners=False)
        cells = []
        for j, im in enumerate(imgs):
            cells += ([torch.ones(3, 96, 2)] if j else []) + [im]
        write_png(Path(args.img_dir) / "mobilenet_sae_latents.png", torch.cat(cells, dim=2))

    result = {
        "model": "mobilenet-v2", "layer": LAYER, "layer_shape": list(model.resolve_layer(LAYER).shape),
        "sae": {"dir": os.path.relpath(args.sae_dir, REPO), "d_sae": args.latents, "k": args.k, "architecture": "topk",
                "steps": args.steps, "batch_size": args.batch_size, "seed": args.seed},
        "data": {"photos": len(paths), "train_photos": len(train), "heldout_photos": len(held),
                 "split": "every 5th file in sorted order held out (sae.stream.split_folder)",
                 "train_augment": "random resized crops (25-100% of the area) + flips, all 14x14 positions"},
        "eval_heldout_kl": metrics,
        "eval_heldout_ce": {k: ce[k] for k in ("loss_clean", "loss_sae", "loss_zero", "loss_kind", "loss_recovered", "images")},
        "coherence": coherence,
        "coherence_definition": "top-9 photos of each unit by spatial-max activation at 224 px; top_group_share = share of "
                                "them in their most common group (zoo.imagenet_groups: Restricted-ImageNet ranges, ungrouped "
                                "classes are groups of one); dog_share = share of the 118 dog classes; dog_units = units "
                                "with dog_share >= 2/3; random_directions = unit-norm Gaussian directions in the layer's "
                                "channel space, same count as latents; random_photo_sets = 5000 random 9-photo sets",
        "most_coherent_latents": lat_rank[:10],
        "most_coherent_neurons": neur_rank[:10],
        "gallery": {"latents": chosen, "render_steps": args.render_steps, "render_size": args.render_size,
                    "transforms": "stride_aware", "dir": str(gal.out_dir), "rendered": len(recs),
                    "values": {r["unit"]: r["value"] for r in recs},
                    "figure": "docs/img/mobilenet_sae_latents.png (first 8 gallery latents)"},
        "runtime": {"train_and_eval_s": round(train_s, 1), "train_and_eval_cpu_s": round(train_cpu, 1),
                    "coherence_s": round(coherence_s, 1), "gallery_s": round(gallery_s, 1),
                    "total_s": round(time.perf_counter() - t_all, 1), "total_cpu_s": round(time.process_time() - c_all, 1),
                    "threads": args.threads, "note": "2 CPU cores shared with other jobs"},
        "command": "python scripts/reproduce_mobilenet_sae.py",
    }
    write_json(Path(args.out), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
