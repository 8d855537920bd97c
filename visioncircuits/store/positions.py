"""Which spatial positions of an image's activation map go into a store.

Why per image and seeded from (seed, image path): the choice must not depend on batching,
sharding, chunk size or which worker handled the image, so any split of the job writes the
same rows. The path is taken relative to the dataset folder, so a moved folder gives the
same store.
"""
from __future__ import annotations

import hashlib
from typing import Optional

import torch


def image_seed(seed: int, rel_path: str) -> int:
    """A 63-bit generator seed from the store's seed and the image's relative path."""
    digest = hashlib.sha256(f"{int(seed)}:{rel_path}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def choose_positions(n_positions: int, keep: Optional[int], seed: int, rel_path: str) -> torch.Tensor:
    """Flat position indices (y * W + x), ascending: all of them, or ``keep`` random ones."""
    if keep is None or keep >= n_positions:
        return torch.arange(n_positions)
    gen = torch.Generator().manual_seed(image_seed(seed, rel_path))
    return torch.randperm(n_positions, generator=gen)[:keep].sort().values
