"""Steering MobileNetV2's dog-selective units on photos of things that are not dogs.
Writes results/steering_mobilenet.json.

    python scripts/reproduce_steering_mobilenet.py            # 100 non-dog photos at 224 px, ~5-8 min on one thread
    python scripts/reproduce_steering_mobilenet.py --quick    # 16 photos, 2 alphas: a smoke test only
    python scripts/reproduce_steering_mobilenet.py --tables   # print the doc's tables from the results file

Units: the two dog units of docs/readme/mobilenet.md (``blocks.15:48`` and ``blocks.15:16``,
6 of 9 top photos dogs) and the most dog-selective latent of the committed SAE on ``blocks.9``
(latent 185, 8 of 9 top photos dogs, docs/readme/sae.md). Controls: two random channels of
``blocks.15`` and two random latents of the same SAE (seeded), steered the same way. Photos:
100 of the 882 non-dog photos in ../shared/data/imagenet-samples (every 8th, sorted by file
name; 224 px centre crops). Each unit is added at every position at alpha = 1, 2 and 4 times
its peak activation on these photos. Reported per unit and alpha: the share of photos whose
top-1 becomes a dog class (118 classes; by chance 11.8% of classes), the mean logit change of
the dog classes and of the other classes, the classes that gained the most top-1 photos, and
the share that go to "the class the unit feeds most" by expanded weights (the linearised
model, data-free). One thread, deterministic kernels.
"""

from __future__ import annotations

import argparse
import random
import sys

from _common import command, markdown_table, print_marked_tables, sample_images

from visioncircuits.results import RESULTS_DIR, Timer, deterministic, write_results

OUT = RESULTS_DIR / "steering_mobilenet.json"
ALPHAS = (1.0, 2.0, 4.0)
SAE = "models/sae/mobilenet-v2-blocks.9"
DOG_UNITS = ["blocks.15:48", "blocks.15:16", f"sae:{SAE}:185"]
N_PHOTOS, STRIDE, SIZE = 100, 8, 224


def control_units(model, seed: int = 0) -> list[str]:
    """Two random channels of blocks.15 and two random latents of the SAE, none of them a dog unit."""
    rng = random.Random(seed)
    ch = rng.sample([c for c in range(model.channels("blocks.15")) if c not in (16, 48)], 2)
    lat = rng.sample([i for i in range(256) if i != 185], 2)
    return [f"blocks.15:{c}" for c in ch] + [f"sae:{SAE}:{i}" for i in lat]


def photos(n: int):
    import torch

    from visioncircuits.data import ImageFolder, list_images

    nondog = [p for p in list_images(sample_images()) if not _is_dog_file(p.name)]
    paths = nondog[::STRIDE][:n]
    folder = ImageFolder(sample_images(), SIZE, paths=paths)
    images = torch.cat([b for _, b in folder.batches(50)])
    return images, [p.name for p in paths], len(nondog)


def _is_dog_file(name: str) -> bool:
    from visioncircuits.zoo.imagenet_classes import class_index, is_dog

    return is_dog(class_index(name.split("_")[0]))


def measure_unit(model, unit: str, images, alphas, rows_cache: dict) -> dict:
    import torch

    from visioncircuits.circuits.expanded import ExpandedWeights
    from visioncircuits.interventions.steering import linear_class_effect, steering_sweep, unit_direction
    from visioncircuits.keys import LOGITS
    from visioncircuits.zoo.imagenet_classes import DOG_CLASSES, is_dog

    resolved, _ = unit_direction(model, unit)
    layer = str(resolved.layer)
    if layer not in rows_cache:
        rows_cache[layer] = ExpandedWeights(model, size=SIZE).compute(layer, LOGITS)
    effect = linear_class_effect(model, unit, rows=rows_cache[layer])
    res = steering_sweep(model, unit, alphas, images, batch_size=50, effect=effect, groups={"dog": set(DOG_CLASSES)})
    dog = torch.tensor([is_dog(c) for c in range(1000)])
    out = {"unit": unit, "layer": layer, "peak": res.scale_value, "target": res.target_name,
           "target_is_dog": bool(is_dog(int(res.target or 0))),
           "baseline_dog_share": res.baseline.group_shares["dog"], "alphas": {}}
    for i, a in enumerate(alphas):
        r, delta = res.alphas[i], res.logit_change(i)
        out["alphas"][str(a)] = {
            "raw_alpha": r.raw_alpha,
            "changed": r.changed,
            "dog_share": r.group_shares["dog"],
            "became_dog": r.became_group["dog"],
            "target_share": r.target_share,
            "dog_logit_gain": float(delta[dog].mean()),
            "other_logit_gain": float(delta[~dog].mean()),
            "top_gained": [[g["class"], g["delta"]] for g in r.gained[:5]],
        }
    return out


def tables(values: dict) -> dict:
    rows = []
    for kind, units in (("dog", values["dog_units"]), ("control", values["controls"])):
        for u in units:
            for a, r in u["alphas"].items():
                gained = ", ".join(f"{c} (+{d})" for c, d in r["top_gained"][:3])
                rows.append([u["unit"], kind, float(a), round(100 * r["changed"]), round(100 * r["dog_share"]),
                             round(r["dog_logit_gain"], 2), round(r["other_logit_gain"], 2), gained])
    targets = [[u["unit"], u["target"], "yes" if u["target_is_dog"] else "no",
                round(100 * max(r["target_share"] for r in u["alphas"].values()))]
               for u in values["dog_units"] + values["controls"]]
    return {
        "steering": {"columns": ["unit", "kind", "alpha", "top-1 changed %", "top-1 is a dog %", "dog logit gain",
                                 "other logit gain", "classes gaining most top-1 photos"], "rows": rows},
        "targets": {"columns": ["unit", "class fed most (expanded weights)", "a dog?", "best top-1 share %"],
                    "rows": targets},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="16 photos, alphas 1 and 4 (smoke test)")
    ap.add_argument("--tables", action="store_true", help="print the markdown tables of the results file and exit")
    ap.add_argument("--out", default=str(OUT), help="results file (default results/steering_mobilenet.json)")
    args = ap.parse_args()
    if args.tables:
        print_marked_tables(args.out, ("steering", "targets"))
        return 0
    from visioncircuits.zoo import load_model

    n, alphas = (16, (1.0, 4.0)) if args.quick else (N_PHOTOS, ALPHAS)
    with Timer() as t, deterministic(threads=1):
        model = load_model("mobilenet-v2")
        images, names, n_nondog = photos(n)
        cache: dict = {}
        dog_units = [measure_unit(model, u, images, alphas, cache) for u in DOG_UNITS]
        controls = [measure_unit(model, u, images, alphas, cache) for u in control_units(model)]
    values = {"photos": names, "n_photos": len(names), "n_nondog_available": n_nondog, "size": SIZE,
              "alphas": list(alphas), "dog_units": dog_units, "controls": controls, "quick": args.quick}
    t_ = tables(values)
    values["steering"], values["targets"] = {"table": t_["steering"]}, {"table": t_["targets"]}
    write_results(args.out, values, command(), t, threads=1)
    print("\n".join(markdown_table(t_["steering"])))
    print(f"{t.wall:.0f} s wall, {t.cpu:.0f} s CPU -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
