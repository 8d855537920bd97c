"""Top-1/top-5 of the three ImageNet MobileNets on the 1,000 sample photos -> results/mobilenet_accuracy.json.

For each model: the float16 weights shipped in models/mobilenet (what ``load_model(name)``
uses) and the float32 files in ../shared/weights (``weights=PATH``), both computed in float32
through the package's own preprocessing and image loading. Also records top-1 agreement
between the two and the max |logit| difference, and the runtime.

    python scripts/reproduce_mobilenet_accuracy.py [--shared ../shared] [--out results/mobilenet_accuracy.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch

from visioncircuits.atomic import write_json
from visioncircuits.zoo import load_model
from visioncircuits.zoo.imagenet_eval import evaluate_photos

REPO = Path(__file__).resolve().parents[1]
FLOAT32 = {
    "mobilenet-v2": "mobilenet_v2_1.0_224_tflite.safetensors",
    "mobilenet-v1": "mobilenet_v1_1.0_224_tflite.safetensors",
    "mobilenet-v1-0.75-192": "mobilenet_v1_0.75_192_tflite.safetensors",
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("VISIONCIRCUITS_SHARED", str(REPO.parent / "shared")))
    ap.add_argument("--out", default=str(REPO / "results" / "mobilenet_accuracy.json"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=50)
    args = ap.parse_args(argv)
    shared = Path(args.shared)
    photos = shared / "data" / "imagenet-samples"
    if not photos.is_dir():
        print(f"error: sample photos not found at {photos} (pass --shared)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    t_all, c_all = time.time(), time.process_time()
    models = {}
    for name, f32 in FLOAT32.items():
        t0, c0 = time.time(), time.process_time()
        row = {}
        runs = {"fp16_shipped": load_model(name), "fp32_shared": load_model(name, weights=shared / "weights" / f32)}
        accs = {}
        for tag, model in runs.items():
            accs[tag] = evaluate_photos(model, photos, batch_size=args.batch_size)
            row[tag] = accs[tag].as_dict()
        a, b = accs["fp16_shipped"].top5_pred[:, 0], accs["fp32_shared"].top5_pred[:, 0]
        row["top1_agreement_fp16_vs_fp32"] = round(float((a == b).float().mean()), 4)
        row["top1_drop_fp16_points"] = round(100 * (row["fp32_shared"]["top1"] - row["fp16_shipped"]["top1"]), 2)
        row["input_size"] = runs["fp16_shipped"].spec.input_size
        row["seconds"] = round(time.time() - t0, 1)
        row["cpu_seconds"] = round(time.process_time() - c0, 1)
        models[name] = row
    result = {
        "what": "top-1/top-5 on the 1,000 ImageNet sample photos (one per class), float32 compute",
        "command": "python scripts/reproduce_mobilenet_accuracy.py",
        "photos": str(photos),
        "preprocessing": "visioncircuits.data.load_image(size=spec.input_size): short side bilinear resize, "
        "centre crop; model maps [0,1] -> [-1,1]",
        "models": models,
        "seconds": round(time.time() - t_all, 1),
        "cpu_seconds": round(time.process_time() - c_all, 1),
        "threads": args.threads,
        "torch": torch.__version__,
        "platform": platform.platform(),
    }
    write_json(args.out, result)
    for name, row in models.items():
        print(
            f"{name:24s} fp16 {100 * row['fp16_shipped']['top1']:.1f}/{100 * row['fp16_shipped']['top5']:.1f}  "
            f"fp32 {100 * row['fp32_shared']['top1']:.1f}/{100 * row['fp32_shared']['top5']:.1f}  ({row['seconds']} s)"
        )
    print(f"wrote {args.out} in {result['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
