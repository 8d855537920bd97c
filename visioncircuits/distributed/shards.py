"""How a job becomes shards: strided shards of units, contiguous batch-aligned shards of images.

Units are dealt out like ``--shard K/N`` (shard k gets items k-1, k-1+N, ...), so the shards
of a layer hold similar mixes of cheap and costly units. Images are cut into contiguous runs
whose lengths are multiples of the batch size, so every forward pass sees exactly the batches
a single-process run sees (no batch-size-dependent last bits).
"""
from __future__ import annotations

import math
from typing import Sequence, TypeVar

T = TypeVar("T")


def unit_shards(items: Sequence[T], n: int) -> list[list[T]]:
    """``items`` dealt into at most ``n`` non-empty strided shards (``items[k::n]``)."""
    n = max(1, min(int(n), len(items)))
    return [list(items[k::n]) for k in range(n)]


def image_shards(items: Sequence[T], n: int, batch_size: int = 1) -> list[list[T]]:
    """``items`` cut into at most ``n`` contiguous shards, each a multiple of ``batch_size`` long
    (except the last), in order."""
    if not items:
        return []
    batches = math.ceil(len(items) / batch_size)
    per = math.ceil(batches / max(1, min(int(n), batches))) * batch_size
    return [list(items[s:s + per]) for s in range(0, len(items), per)]
