"""Attribution patching vs true activation patching on MobileNetV2 (ImageNet weights in models/mobilenet/).

Photo pairs from the sample folder: clean = a dog photo the model classifies correctly, corrupted = a
non-dog photo (evenly spaced picks from the sorted file list, so the choice is fixed); metric = the
logit of the clean photo's class. For every channel of three block outputs, and for the latents of
the committed blocks.9 SAE that fire on any of the photos (error term kept), the true effect of
patching the unit from the corrupted into the clean photo (one forward pass per unit and pair) is
compared with its attribution-patching estimate (one backward pass for all units): Spearman rank
correlation per layer, and the CPU seconds of both. One thread, deterministic kernels.

    python scripts/reproduce_interventions_mobilenet.py [--dataset ../shared/data/imagenet-samples] [--pairs 8]
    python scripts/reproduce_interventions_mobilenet.py --tables   # print the markdown table of the results file

Nothing from the photos is written into the repository: only file names, class indices and numbers.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _common import REPO, command, shared_dir

from visioncircuits.results import RESULTS_DIR, Timer, deterministic, write_results

OUT = RESULTS_DIR / "interventions_mobilenet.json"
MODEL = "mobilenet-v2"
LAYERS = ("blocks.5", "blocks.9", "blocks.15")
SAE = "models/sae/mobilenet-v2-blocks.9"


def pick_pairs(model, folder: Path, n: int):
    """n correctly classified dog photos and n non-dog photos, evenly spaced in sorted order."""
    import torch

    from visioncircuits.data import list_images, load_image
    from visioncircuits.zoo.imagenet_classes import class_index, is_dog

    paths = sorted(list_images(folder))
    labelled = [(p, class_index(p.name.split("_")[0])) for p in paths]
    dogs = [(p, c) for p, c in labelled if is_dog(c)]
    others = [(p, c) for p, c in labelled if not is_dog(c)]
    size = int(model.spec.input_size)
    clean, classes, names = [], [], []
    step = max(1, len(dogs) // (3 * n))
    for p, c in dogs[::step]:
        img = load_image(p, size)
        with torch.no_grad():
            if int(model(img[None].to(model.device)).argmax()) != c:
                continue
        clean.append(img)
        classes.append(c)
        names.append(p.name)
        if len(clean) == n:
            break
    corrupt = others[:: max(1, len(others) // n)][:n]
    corrupted = torch.stack([load_image(p, size) for p, _ in corrupt])
    return torch.stack(clean), corrupted, torch.tensor(classes), names, [p.name for p, _ in corrupt]


def active_latents(model, images, sae: str) -> list[str]:
    z = model.run_with_cache(images.to(model.device), [f"sae:{sae}"])[f"sae:{sae}"]
    fired = (z > 0).flatten(2).any(2).any(0)
    return [f"sae:{sae}:{i}" for i in fired.nonzero().flatten().tolist()]


def cpu() -> float:
    return time.process_time()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, default=None, help="ImageNet sample photos (<wnid>_<name>.jpg)")
    ap.add_argument("--pairs", type=int, default=8, help="photo pairs (default 8)")
    ap.add_argument("--tables", action="store_true", help="print the markdown table of the results file and exit")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if args.tables:
        if not args.out.exists():
            ap.error(f"no results file {args.out}: run the script without --tables first")
        t = json.loads(args.out.read_text())["values"]["table"]
        print(f"<!-- results: results/{args.out.name} table -->")
        print("| " + " | ".join(t["columns"]) + " |\n|" + "---|" * len(t["columns"]))
        for row in t["rows"]:
            print("| " + " | ".join(format(v, f) if f else str(v) for v, f in zip(row, t["format"])) + " |")
        return 0
    if args.pairs < 2:
        ap.error("--pairs must be >= 2")
    folder = args.dataset or shared_dir() / "data" / "imagenet-samples"
    if not folder.is_dir():
        ap.error(f"--dataset: no folder {folder}")

    import torch

    from visioncircuits.interventions import activation_patching, attribution_patching, logit_metric
    from visioncircuits.interventions import patching_rank_correlation as spearman
    from visioncircuits.zoo import load_model

    rows, per_layer = [], {}
    with Timer() as t, deterministic(threads=1):
        model = load_model(MODEL)
        clean, corrupted, classes, clean_names, corrupt_names = pick_pairs(model, folder, args.pairs)
        metric = logit_metric(classes)
        sae = str(REPO / SAE) if not Path(SAE).is_absolute() else SAE
        targets = {layer: [layer] for layer in LAYERS}
        targets["sae:blocks.9"] = active_latents(model, torch.cat([clean, corrupted]), sae)
        for name, units in targets.items():
            c0 = cpu()
            est = attribution_patching(model, clean, corrupted, units, metric)
            c1 = cpu()
            true = activation_patching(model, clean, corrupted, units, metric, max_batch=64)
            c2 = cpu()
            rho = spearman(est, true)
            top = sorted(true, key=lambda u: true[u])[:10]
            overlap = len(set(top) & set(sorted(est, key=lambda u: est[u])[:10])) / 10
            per_layer[name] = {"units": len(true), "spearman": rho, "top10_overlap": overlap,
                               "cpu_attribution": c1 - c0, "cpu_patching": c2 - c1,
                               "estimates": est, "effects": true}
            rows.append([name if not name.startswith("sae:") else f"SAE latents on blocks.9 ({SAE})", len(true), rho,
                         overlap, c1 - c0, c2 - c1])
    values = {
        "layers": per_layer,
        "table": {
            "columns": ["units", "count", "Spearman", "top-10 overlap", "CPU s, attribution", "CPU s, patching"],
            "format": [None, None, ".2f", ".1f", ".1f", ".0f"],
            "rows": rows,
        },
        "pairs": {"clean": clean_names, "corrupted": corrupt_names, "classes": classes.tolist()},
    }
    write_results(args.out, values, command(), t, threads=1)
    for r in rows:
        print(r)
    print(f"{t.wall:.0f} s wall, {t.cpu:.0f} s CPU; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
