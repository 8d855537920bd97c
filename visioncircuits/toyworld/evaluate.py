"""Held-out accuracy of a model on freshly generated toy images (a seed training never uses)."""
from __future__ import annotations

import torch
from tqdm.auto import tqdm

from visioncircuits.errors import InputError
from visioncircuits.toyworld.generate import generate
from visioncircuits.toyworld.train import EVAL_SEED


@torch.no_grad()
def accuracy(model, n: int = 2000, seed: int = EVAL_SEED, batch: int = 250, progress: bool = False) -> float:
    """Top-1 accuracy of a hooked model (RGB [0, 1] in) on ``n`` new images from ``seed``.

    Image ``i`` depends only on ``(seed, i)``; batches are drawn from consecutive sub-seeds.
    """
    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    correct = 0
    was_training = model.training
    model.eval()
    try:
        for k, lo in enumerate(tqdm(range(0, n, batch), disable=not progress, desc="eval", unit="batch")):
            b = generate(min(batch, n - lo), seed=seed + k)
            pred = model(b.images.to(model.device)).argmax(1).cpu()
            correct += int((pred == b.labels).sum())
    finally:
        model.train(was_training)
    return correct / n
