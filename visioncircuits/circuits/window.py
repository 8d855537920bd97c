"""Receptive-field windows: why expanded weights can be read off a small input exactly.

The centre of an upper layer depends only on a small window of the lower layer (its
receptive field there). On the linearised network the map from that window to the centre is
translation equivariant away from the borders, so the same rows can be computed on a much
smaller input, where every convolution between the two layers is many times cheaper, and
placed back into the full-size frame. Nothing is assumed: the rows from the small input are
accepted only if a random combination of them matches the same combination computed at
full size (one extra backward pass); otherwise the full size is used.
"""
from __future__ import annotations

from typing import Optional

import torch

Box = tuple[int, int, int, int]  # y0, y1, x0, x1 (inclusive)


def nonzero_box(g: torch.Tensor) -> Optional[Box]:
    """Bounding box of the non-zero positions of a (C, H, W) map summed over channels."""
    m = g.abs().sum(0) > 0
    if not bool(m.any()):
        return None
    ys = torch.nonzero(m.any(1)).flatten()
    xs = torch.nonzero(m.any(0)).flatten()
    return int(ys[0]), int(ys[-1]), int(xs[0]), int(xs[-1])


def box_shape(b: Box) -> tuple[int, int]:
    return b[1] - b[0] + 1, b[3] - b[2] + 1


def is_interior(b: Box, h: int, w: int) -> bool:
    """True when the box does not touch the map's border (so no padding was involved)."""
    return b[0] > 0 and b[2] > 0 and b[1] < h - 1 and b[3] < w - 1


def candidate_maps(box: Box, lower_hw: tuple[int, int], upper_hw: tuple[int, int]) -> list[int]:
    """Square lower-map sizes to inject, from the receptive field's size up to one stride
    more on each side (so the upper centre's phase can line up), smaller than the full map."""
    bh, bw = box_shape(box)
    stride = max(1, round(min(lower_hw) / max(1, min(upper_hw))))
    lo = max(bh, bw)
    return [L for L in range(lo, lo + 2 * stride + 3) if L < min(lower_hw)]


def matches(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to float32 reduction-order noise."""
    if a.shape != b.shape:
        return False
    scale = float(a.abs().max().clamp_min(1e-30))
    return bool(torch.allclose(a, b, rtol=1e-3, atol=1e-4 * scale))


def auto_crop(box: Optional[Box], h: int, w: int, center: str = "floor_half") -> int:
    """The smallest centred square crop that contains ``box`` (the whole map if none);
    centred on ``H // 2`` or, with ``center="captum"``, on ``(H - 1) // 2``."""
    if box is None:
        return min(h, w)
    cy, cx = (h // 2, w // 2) if center != "captum" else ((h - 1) // 2, (w - 1) // 2)
    half = max(cy - box[0], box[1] - cy, cx - box[2], box[3] - cx)
    return min(min(h, w), 2 * half + 1)
