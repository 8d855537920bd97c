"""Reproduce the MobileNetV2 gallery numbers: results/mobilenet_galleries.json (+ small figures).

For an early, a middle and a late main layer of the shipped MobileNetV2 (``blocks.5``,
``blocks.9``, ``blocks.15``; total strides 8, 16, 32; ``blocks.2`` has only 24 channels),
32 units each:

- a gallery (stride-aware renders + top-9 photos) written outside the repo (photo crops);
- quality: the share of units whose render beats every one of the 1,000 photos on the
  unit's own measure, and the median ratio render / best photo. ONE measure for both: the
  unit's spatial-mean activation with the image fed at the render size (photos resized, short
  side, centre crop), the objective the renders maximise;
- the checkerboard measure (``featvis.artefacts.stride_peak_ratio``) on renders without
  transforms, with the default (Lucent) chain and with the stride-aware preset, relative to
  the same measure on the 1,000 photos at the same size (all quantised to 8 bits like PNGs).

    python scripts/reproduce_mobilenet_galleries.py [--photos DIR] [--steps 64] [--size 96]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from visioncircuits.atomic import write_json, write_png  # noqa: E402
from visioncircuits.data import ImageFolder  # noqa: E402
from visioncircuits.featvis import build_gallery, render  # noqa: E402
from visioncircuits.featvis.artefacts import relative_to, stride_peak_ratio, stride_peak_ratio_batches  # noqa: E402
from visioncircuits.featvis.seeding import SEEDING_VERSION  # noqa: E402
from visioncircuits.featvis.stride_aware import stride_aware_for, total_stride  # noqa: E402
from visioncircuits.zoo import load_model  # noqa: E402

LAYERS = ("blocks.5", "blocks.9", "blocks.15")  # 32, 64, 160 channels; total strides 8, 16, 32
DEFAULT_PHOTOS = Path(os.environ.get("VISIONCIRCUITS_SHARED", REPO.parent / "shared")) / "data" / "imagenet-samples"


def q8(x: torch.Tensor) -> torch.Tensor:
    """Quantise to 8 bits as a PNG would, so renders and photos (JPEG-decoded) are measured alike."""
    return (x.clamp(0, 1) * 255).round() / 255


@torch.no_grad()
def photo_pass(model, photos, size: int) -> tuple[dict, dict, int]:
    """Best spatial-mean activation over the photos per unit of each layer, and the photos' stride measure."""
    best: dict = {}
    n = 0

    def batches():
        nonlocal n
        for _, imgs in ImageFolder(photos, size).batches(50):
            acts = model.run_with_cache(imgs.to(model.device), list(LAYERS))
            for layer in LAYERS:
                v = acts[layer].mean(dim=(2, 3)).amax(0).cpu()
                best[layer] = v if layer not in best else torch.maximum(best[layer], v)
            n += len(imgs)
            yield q8(imgs)

    ratio = stride_peak_ratio_batches(batches())
    return best, ratio, n


def tile_row(images: torch.Tensor, px: int) -> torch.Tensor:
    """Images (N, 3, S, S) side by side, resized to ``px`` with a 2-px white gap."""
    imgs = F.interpolate(images, size=(px, px), mode="bilinear", antialias=True, align_corners=False)
    gap = torch.ones(3, px, 2)
    parts = []
    for i, im in enumerate(imgs):
        parts += ([gap] if i else []) + [im]
    return torch.cat(parts, dim=2)


def crop_zoom(images: torch.Tensor, crop: int, zoom: int) -> torch.Tensor:
    """Top-left ``crop`` px of each image enlarged ``zoom`` times with nearest neighbours (pixels visible)."""
    return F.interpolate(images[:, :, :crop, :crop], scale_factor=zoom, mode="nearest")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", default=str(DEFAULT_PHOTOS))
    ap.add_argument("--out", default=str(REPO / "results" / "mobilenet_galleries.json"))
    ap.add_argument(
        "--work", default="/tmp/mobilenet_galleries", help="galleries (hold photo crops: keep outside the repo)"
    )
    ap.add_argument("--img-dir", default=str(REPO / "docs" / "img"))
    ap.add_argument("--units", type=int, default=32)
    ap.add_argument(
        "--compare-units", type=int, default=4, help="units per layer also rendered without / with default transforms"
    )
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--layers",
        default=",".join(LAYERS),
        help="render only these layers (comma-separated), e.g. one per process; a final run with all "
        "layers finds their work on disk and writes the results",
    )
    ap.add_argument(
        "--partial", action="store_true", help="write results and figures for --layers even if not all three"
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    t_all, c_all = time.perf_counter(), time.process_time()
    model = load_model("mobilenet-v2")
    photos = Path(args.photos)
    cache = Path(args.work) / f"photo_pass_{args.size}.pt"  # resume: the pass is slow on a loaded machine
    if cache.exists():
        best, photo_ratio, n_photos = torch.load(cache, weights_only=True)
    else:
        best, photo_ratio, n_photos = photo_pass(model, photos, args.size)
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save((best, photo_ratio, n_photos), cache)
    photo_s = time.perf_counter() - t_all

    out_layers, figure_rows, strips = {}, [], []
    import json

    for layer in [name for name in args.layers.split(",") if name]:
        t0, c0 = time.perf_counter(), time.process_time()
        units = list(range(args.units))
        # units rendered by an earlier (one-layer) run with the same fingerprint are skipped, not redone
        gal = build_gallery(
            model,
            layer,
            Path(args.work) / layer,
            units=units,
            dataset=photos,
            steps=args.steps,
            size=args.size,
            transforms="stride_aware",
            seed=args.seed,
            k=9,
            progress=False,
        )
        # read the renders back (8-bit PNGs) with their values
        from visioncircuits.data import load_image

        recs = sorted(
            (json.loads(p.read_text()) for p in (Path(args.work) / layer / "units").glob("*/unit.json")),
            key=lambda r: r["index"],
        )
        recs = [r for r in recs if r["index"] in units]
        after_imgs = torch.stack([load_image(Path(args.work) / layer / r["vis"]) for r in recs])
        after_vals = torch.tensor([r["value"] for r in recs])
        gallery_s, gallery_cpu = time.perf_counter() - t0, time.process_time() - c0
        timing = Path(args.work) / layer / "gallery_timing.json"
        if gal.rendered:  # the work was done in this process: record its time for the final run
            write_json(timing, {"gallery_s": gallery_s, "gallery_cpu_s": gallery_cpu})
        elif timing.exists():
            t = json.loads(timing.read_text())
            gallery_s, gallery_cpu = t["gallery_s"], t["gallery_cpu_s"]
        b = best[layer][units]
        ratios = (after_vals / b).tolist()

        # the same first units without transforms and with the default (Lucent) chain
        cmp = units[: args.compare_units]
        compare_s = 0.0
        conditions = {}
        for name in ("none", "default"):
            done = (Path(args.work) / layer
                    / f"compare_{name}_{args.steps}_{args.size}_{len(cmp)}_{args.seed}_seeding{SEEDING_VERSION}.pt")
            if done.exists():  # resume
                imgs, vals, *rest = torch.load(done, weights_only=True)
                secs = rest[0] if rest else float("nan")
            else:
                r = render(
                    model,
                    [f"{layer}:{i}" for i in cmp],
                    steps=args.steps,
                    size=args.size,
                    transforms=name,
                    seed=args.seed,
                    progress=False,
                )
                imgs, vals, secs = q8(r.images), torch.tensor(r.values), r.seconds
                torch.save((imgs, vals, secs), done)
            compare_s += secs
            m = stride_peak_ratio(imgs)
            conditions[name] = {
                "images": imgs,
                "beats_all_photos": float((vals > b[: len(cmp)]).float().mean()),
                "median_ratio": statistics.median((vals / b[: len(cmp)]).tolist()),
                "stride_peak_ratio": m,
                "relative_to_photos": relative_to(m, photo_ratio),
            }
        m_sa = stride_peak_ratio(after_imgs[: len(cmp)])
        conditions["stride_aware"] = {
            "images": after_imgs[: len(cmp)],
            "beats_all_photos": float((after_vals[: len(cmp)] > b[: len(cmp)]).float().mean()),
            "median_ratio": statistics.median(ratios[: len(cmp)]),
            "stride_peak_ratio": m_sa,
            "relative_to_photos": relative_to(m_sa, photo_ratio),
        }
        m_all = stride_peak_ratio(after_imgs)
        preset = stride_aware_for(model, [layer], args.size)
        out_layers[layer] = {
            "units": units,
            "total_stride": total_stride(model, [layer], args.size),
            "beats_all_photos": float((after_vals > b).float().mean()),
            "median_ratio_to_best_photo": statistics.median(ratios),
            "min_ratio_to_best_photo": min(ratios),
            "per_unit": [
                {"unit": r["unit"], "value": r["value"], "best_photo": float(bv), "ratio": q}
                for r, bv, q in zip(recs, b.tolist(), ratios)
            ],
            "stride_peak_ratio_all_units": m_all,
            "relative_to_photos_all_units": relative_to(m_all, photo_ratio),
            "compare_units": cmp,
            "compare": {k: {kk: vv for kk, vv in v.items() if kk != "images"} for k, v in conditions.items()},
            "stride_aware_preset": repr(preset),
            "gallery_dir": str(gal.out_dir),
            "gallery_s": round(gallery_s, 1),
            "gallery_cpu_s": None if gallery_cpu is None else round(gallery_cpu, 1),
            "compare_s": round(compare_s, 1),
        }
        n_fig = min(2, len(cmp))
        figure_rows.append(
            [crop_zoom(conditions[c]["images"][:n_fig], 48, 3) for c in ("none", "default", "stride_aware")]
        )
        strips.append(tile_row(after_imgs[:6], 80))
        write_json(Path(args.work) / f"partial_results_{layer}.json", {"layers": out_layers, "photos": photo_ratio})
        logging.info(
            "%s: %.0f%% beat all photos, median ratio %.2f",
            layer,
            100 * out_layers[layer]["beats_all_photos"],
            out_layers[layer]["median_ratio_to_best_photo"],
        )

    if list(out_layers) != list(LAYERS) and not args.partial:
        return 0  # a one-layer worker: the final run with all layers writes results and figures
    # figures: renders only (never photos)
    img_dir = Path(args.img_dir)
    gap_v = None
    rows = []
    for per_cond in figure_rows:  # one row per layer: none | default | stride-aware, n_fig units each
        cells = []
        for i, imgs in enumerate(per_cond):
            cells.append(tile_row(imgs, imgs.shape[-1]))
            if i < len(per_cond) - 1:
                cells.append(torch.ones(3, imgs.shape[-1], 10))
        row = torch.cat(cells, dim=2)
        gap_v = torch.ones(3, 6, row.shape[2])
        rows += ([gap_v] if rows else []) + [row]
    write_png(img_dir / "mobilenet_checkerboard_before_after.png", torch.cat(rows, dim=1))
    strip = []
    for s in strips:
        strip += ([torch.ones(3, 6, s.shape[2])] if strip else []) + [s]
    write_png(img_dir / "mobilenet_gallery_strip.png", torch.cat(strip, dim=1))

    result = {
        "model": "mobilenet-v2",
        "layers": out_layers,
        "photos": {
            "n": n_photos,
            "stride_peak_ratio": photo_ratio,
            "note": "the 1,000 sample photos at the render size; JPEG's 8x8 blocks and 2x chroma subsampling "
            "give them peaks of their own at strides 2-8",
        },
        "measure": "render beats a photo if the unit's spatial-mean activation on the render (fed untransformed at "
        "the render size) exceeds its spatial-mean activation on the photo resized to the same size "
        "(short side, centre crop); renders are scored as saved (8-bit PNG)",
        "settings": {
            "steps": args.steps,
            "size": args.size,
            "param": "fft",
            "seed": args.seed,
            "lr": "default (0.05)",
            "redirect_relu": "default (first min(16, steps/2) steps)",
            "transforms": "stride_aware",
            "compare_transforms": ["none", "default", "stride_aware"],
            "threads": args.threads,
        },
        "figures": ["docs/img/mobilenet_checkerboard_before_after.png", "docs/img/mobilenet_gallery_strip.png"],
        "runtime": {
            "photo_pass_s": round(photo_s, 1),
            "total_s": round(time.perf_counter() - t_all, 1),
            "total_cpu_s": round(time.process_time() - c_all, 1),
            "note": "2 CPU cores shared with other jobs",
        },
        "command": "python scripts/reproduce_mobilenet_galleries.py",
    }
    write_json(Path(args.out), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
