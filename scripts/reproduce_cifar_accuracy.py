"""Real CIFAR ResNet weights on real photos: accuracy on the 52 sample photos whose ImageNet
class maps onto a CIFAR-10 class (resized to 32 px), served from a torch.hub cache, offline.

    python scripts/reproduce_cifar_accuracy.py          # ~10 s
"""
from __future__ import annotations

import sys

import torch
from _common import command, hub_cache, parse_no_options, sample_images

from visioncircuits.results import RESULTS_DIR, Timer, deterministic, write_results


def main() -> int:
    parse_no_options(__doc__)
    from visioncircuits.data import list_images, load_image
    from visioncircuits.zoo import load_model
    from visioncircuits.zoo.imagenet_to_cifar import cifar_subset

    values = {}
    with Timer() as t, deterministic(threads=1), hub_cache():
        pairs = cifar_subset(list_images(sample_images()))
        images = torch.stack([load_image(p, 32) for p, _ in pairs])
        labels = torch.tensor([label for _, label in pairs])
        for depth in (20, 56):
            model = load_model(f"cifar10-resnet{depth}")
            with torch.no_grad():
                correct = int((model(images).argmax(1) == labels).sum())
            values[f"resnet{depth}"] = {"correct": correct, "n": len(labels), "accuracy": correct / len(labels)}
    write_results(RESULTS_DIR / "cifar_accuracy.json", values, command(), t, threads=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
