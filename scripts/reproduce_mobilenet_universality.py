"""Universality between independently trained real networks: MobileNetV1 vs MobileNetV2, and
MobileNetV1 vs MobileNetV1-0.75-192, on the 1,000 ImageNet sample photos.

Runs the project's own universality report (``run_universality``: minibatch CKA over every
main layer, Hungarian unit matching with the permuted-images and random-weights nulls,
stimulus transfer of the top matched pairs) and adds the depth-alignment summary (is each V1
layer's most similar layer at proportional depth?). Writes the report pages to ``--out``,
``results/mobilenet_universality.json`` and the CKA heatmaps to ``docs/img/``.

    python scripts/reproduce_mobilenet_universality.py [--dataset ../shared/data/imagenet-samples] [--n 1000]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODELS = [
    "mobilenet-v1",
    "mobilenet-v2",
    "mobilenet-v1-0.75-192",
]  # V1 first: pairs (V1, V2), (V1, V1-0.75), (V2, V1-0.75)


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    shared = Path(os.environ.get("VISIONCIRCUITS_SHARED", REPO.parent / "shared"))
    p.add_argument("--dataset", default=str(shared / "data" / "imagenet-samples"))
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--grid", type=int, default=4, help="unit maps pooled to G x G positions for matching")
    p.add_argument("--permutations", type=int, default=1)
    p.add_argument("--top-pairs", type=int, default=6)
    p.add_argument("--featvis-steps", type=int, default=64)
    p.add_argument("--featvis-size", type=int, default=128)
    p.add_argument("--out", default="/tmp/mobilenet-universality")
    p.add_argument("--results", default=str(REPO / "results" / "mobilenet_universality.json"))
    p.add_argument("--img-dir", default=str(REPO / "docs" / "img"))
    args = p.parse_args()

    from visioncircuits.atomic import write_json
    from visioncircuits.universality.compare import CompareSettings
    from visioncircuits.universality.depth_alignment import depth_alignment
    from visioncircuits.universality.pipeline import ReportOptions, run_universality
    from visioncircuits.universality.probes import FolderProbes

    t0, c0 = time.perf_counter(), time.process_time()
    probes = FolderProbes(args.dataset, 224, limit=args.n)
    opts = ReportOptions(
        top_pairs=args.top_pairs,
        featvis_steps=args.featvis_steps,
        featvis_size=args.featvis_size,
        compare=CompareSettings(
            batch_size=50, grid=args.grid, n_permutations=args.permutations, top_examples=6, progress=True
        ),
    )
    report = run_universality(MODELS, probes, args.out, options=opts)
    pairs = []
    for pr in report["pairs"]:
        m = pr["matching"]
        top = m["matches"][:50]
        pairs.append(
            {
                "a": pr["a"],
                "b": pr["b"],
                "cka": {
                    "layers_a": pr["cka"]["layers_a"],
                    "layers_b": pr["cka"]["layers_b"],
                    "matrix": pr["cka"]["matrix"],
                    "depth_alignment": depth_alignment(
                        pr["cka"]["matrix"], pr["cka"]["layers_a"], pr["cka"]["layers_b"]
                    ),
                },
                "matching": {
                    "method": m["method"],
                    "grid": m["grid"],
                    "units_a": m["units_a"],
                    "units_b": m["units_b"],
                    "n_matches": len(m["matches"]),
                    "n_significant": m["n_significant"],
                    "n_beat_random": m["n_beat_random"],
                    "mean_r": round(m["mean_r"], 4),
                    "mean_r_top50": round(sum(x["r"] for x in top) / max(1, len(top)), 4),
                    "top10": [
                        {k: x[k] for k in ("unit_a", "unit_b", "r", "q_permuted", "random_baseline", "significant")}
                        for x in m["matches"][:10]
                    ],
                },
                "null": pr["null"],
                "transfer": pr.get("transfer", []),
                "figure": pr["cka"]["figure"],
            }
        )
        src = Path(args.out) / pr["cka"]["figure"]
        if src.exists() and {pr["a"], pr["b"]} != {"mobilenet-v2", "mobilenet-v1-0.75-192"}:
            shutil.copyfile(src, Path(args.img_dir) / f"mobilenet_{pr['cka']['figure']}")
    result = {
        "command": "python scripts/reproduce_mobilenet_universality.py " + " ".join(sys.argv[1:]),
        "models": MODELS,
        "probes": report["probes"],
        "settings": report["settings"],
        "layers": report["layers"],
        "pairs": pairs,
        "runtime": {
            "wall_seconds": round(time.perf_counter() - t0, 1),
            "cpu_seconds": round(time.process_time() - c0, 1),
            "torch_threads": __import__("torch").get_num_threads(),
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        },
        "report": str(Path(args.out) / "report.html"),
    }
    write_json(args.results, result)
    for pr in pairs:
        da = pr["cka"]["depth_alignment"]
        print(
            f"{pr['a']} vs {pr['b']}: spearman {da['spearman_index_vs_argmax']}, within one layer {da['within_one_layer']}, "  # noqa: E501
            f"significant {pr['matching']['n_significant']}/{pr['matching']['n_matches']}, beat random {pr['matching']['n_beat_random']}"  # noqa: E501
        )
    print(f"wrote {args.results} in {result['runtime']['wall_seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
