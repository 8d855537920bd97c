"""Draw scene plans into image tensors (and primitive masks), batched and cropped.

Drawing order within an image is the order of its instance list. Instances at the same
position of different images are drawn together, grouped by crop size, shape kind and
fill kind, and each is computed only on its own bounding-box crop; so the cost is a few
small tensor operations per group rather than per image or per full canvas.
"""
from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from typing import Optional, Sequence

import torch

from visioncircuits.toyworld.primitives import PRIMITIVE_INDEX, PRIMITIVES
from visioncircuits.toyworld.shapes import (
    FILL_KEYS,
    PATTERN_FILLS,
    SHAPE_KEYS,
    _hash_noise,
    alpha_from_distance,
    fill,
    grid,
    signed_distance,
)

BUCKET = 8  # crop sizes are rounded up to multiples of this many pixels


def bbox(it: dict) -> tuple[float, float, float, float]:
    """Canvas-unit bounding box (x0, y0, x1, y1) of an instance's shape."""
    k = it["shape"]
    if k == "seg":
        e = it["w"] / 2
        return (
            min(it["x0"], it["x1"]) - e,
            min(it["y0"], it["y1"]) - e,
            max(it["x0"], it["x1"]) + e,
            max(it["y0"], it["y1"]) + e,
        )
    cx, cy = it["cx"], it["cy"]
    if k == "disc":
        ex = ey = it["r"]
    elif k in ("ring", "arc"):
        ex = ey = it["r"] + it["w"] / 2
    elif k == "rect":
        ex, ey = it["ax"], it["ay"]
    elif k == "ellipse":
        ex, ey = it["a"], it["b"]
    elif k == "arch":
        return cx - it["a"], cy - it["a"], cx + it["a"], cy + it["h"]
    elif k == "band":
        ex = ey = it["s"]
    else:
        raise ValueError(f"unknown shape kind {k!r}")
    return cx - ex, cy - ey, cx + ex, cy + ey


def _crop(items: Sequence[dict], size: int) -> tuple[int, int, list[tuple[int, int]]]:
    f = size / 64.0
    boxes = [bbox(it) for it in items]
    h = min(size, max(int((b[3] - b[1]) * f) + 4 for b in boxes))
    w = min(size, max(int((b[2] - b[0]) * f) + 4 for b in boxes))
    h, w = min(size, -(-h // BUCKET) * BUCKET), min(size, -(-w // BUCKET) * BUCKET)
    origins = []
    for b in boxes:
        cy, cx = (b[1] + b[3]) / 2 * f, (b[0] + b[2]) / 2 * f
        origins.append((min(max(int(round(cy - h / 2)), 0), size - h), min(max(int(round(cx - w / 2)), 0), size - w)))
    return h, w, origins


def _params(items: Sequence[dict], keys: Sequence[str]) -> dict[str, torch.Tensor]:
    return {k: torch.tensor([float(i[k]) for i in items], dtype=torch.float32) for k in keys}


def _by(items: Sequence[dict], key: str) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for j, it in enumerate(items):
        groups[it[key]].append(j)
    return groups


def _draw_group(items: list[dict], X: torch.Tensor, Y: torch.Tensor, size: int, colour: bool):
    """(K, h, w) region alpha, and (K, 3, h, w) colours with pattern-weighted alpha if ``colour``."""
    k, h, w = len(items), Y.shape[1], X.shape[2]
    alpha = torch.empty(k, h, w)
    for kind, idx in _by(items, "shape").items():
        d = signed_distance(kind, _params([items[j] for j in idx], SHAPE_KEYS[kind]), X[idx], Y[idx])
        alpha[idx] = alpha_from_distance(d, size).expand(len(idx), h, w)
    if not colour:
        return alpha, None, None
    col = torch.empty(k, 3, h, w)
    paint = alpha.clone()
    for kind, idx in _by(items, "fill").items():
        c, pat = fill(kind, _params([items[j] for j in idx], FILL_KEYS[kind]), X[idx], Y[idx], size)
        col[idx] = c.expand(len(idx), 3, h, w)
        if pat is not None:
            paint[idx] = paint[idx] * pat
    return alpha, col, paint


def background(backgrounds: Sequence[dict], size: int, noise: float = 0.03) -> torch.Tensor:
    """(N, H, W, 3) channels-last background: tinted grey, gentle gradient, fixed pixel noise."""
    X, Y = grid(size)
    rgb = torch.tensor([b["rgb"] for b in backgrounds], dtype=torch.float32)[:, None, None, :]
    grad = torch.tensor([b["grad"] for b in backgrounds], dtype=torch.float32)
    ramp = (grad[:, 0, None, None] * (X - 32) + grad[:, 1, None, None] * (Y - 32)) / 32
    bank = grain_bank(size)
    out = bank[torch.tensor([int(b["noise_seed"]) % bank.shape[0] for b in backgrounds], dtype=torch.long)]
    out.mul_(2 * noise).add_(rgb).add_(ramp[..., None])
    return out


@lru_cache(maxsize=4)
def grain_bank(size: int, n: int = 64) -> torch.Tensor:
    """(n, size, size, 3) fixed pixel noise in [-0.5, 0.5) (drawing it per image is the slow part)."""
    X, Y = grid(size)
    seeds = torch.arange(n, dtype=torch.float32)[:, None, None, None] * 3.7
    chan = torch.arange(3, dtype=torch.float32)[None, None, None, :] * 7.31
    return _hash_noise(X[..., None], Y[..., None], seeds + chan) - 0.5


def render(
    scenes: Sequence[Sequence[dict]],
    backgrounds: Sequence[dict],
    size: int = 64,
    with_masks: bool = False,
) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Images (N, 3, H, W) in [0, 1] and, if asked, visible masks (N, P, H, W) bool.

    A primitive's mask is where its instance covers the pixel (the whole region for a
    texture) and no later drawn opaque instance hides it; annotation-only instances
    (``draw=False``: the rim of the dog ear, the line of a frequency boundary) and pattern
    fills hide nothing.
    """
    n = len(scenes)
    img = background(backgrounds, size)  # channels last, so a crop is one gather
    masks = torch.zeros(n, len(PRIMITIVES), size, size, dtype=torch.bool) if with_masks else None
    depth = max((len(s) for s in scenes), default=0)
    f = 64.0 / size
    done = []
    for pos in range(depth):
        entries = [
            (i, scenes[i][pos]) for i in range(n) if pos < len(scenes[i]) and (with_masks or scenes[i][pos]["draw"])
        ]
        if not entries:
            continue
        groups: dict[tuple, list[int]] = defaultdict(list)
        for j, (_, it) in enumerate(entries):
            b = bbox(it)
            groups[(-(-int((b[3] - b[1]) / f + 4) // BUCKET), -(-int((b[2] - b[0]) / f + 4) // BUCKET))].append(j)
        for sel in groups.values():
            items = [entries[j][1] for j in sel]
            h, w, origins = _crop(items, size)
            who = torch.tensor([entries[j][0] for j in sel])
            oy = torch.tensor([o[0] for o in origins])
            ox = torch.tensor([o[1] for o in origins])
            rows = oy[:, None] + torch.arange(h)[None]  # (K, h)
            cols = ox[:, None] + torch.arange(w)[None]  # (K, w)
            Y = ((rows.float() + 0.5) * f)[:, :, None]
            X = ((cols.float() + 0.5) * f)[:, None, :]
            at = (who[:, None, None], rows[:, :, None], cols[:, None, :])
            drawn = [j for j, it in enumerate(items) if it["draw"]]
            alpha, col, paint = _draw_group(items, X, Y, size, colour=bool(drawn))
            if drawn:
                assert col is not None and paint is not None  # colour=True
                d = torch.tensor(drawn)
                a = paint[d][..., None]
                sub = (who[d][:, None, None], rows[d][:, :, None], cols[d][:, None, :])
                img[sub] = img[sub] * (1 - a) + col[d].permute(0, 2, 3, 1) * a
            if with_masks:
                done.append((pos, items, at, alpha > 0.5))
    if masks is not None:
        covered = torch.zeros(n, size, size, dtype=torch.bool)
        for _pos, items, at, m in reversed(done):  # later positions hide earlier ones
            vis = m & ~covered[at]
            for j, it in enumerate(items):
                for p in it["prims"]:
                    sub = (at[0][j], torch.full_like(at[1][j], PRIMITIVE_INDEX[p]), at[1][j], at[2][j])
                    masks[sub] |= vis[j]
            occl = [j for j, it in enumerate(items) if it["draw"] and it["fill"] not in PATTERN_FILLS]
            if occl:
                o = torch.tensor(occl)
                sub = (at[0][o], at[1][o], at[2][o])
                covered[sub] |= m[o]
    return img.clamp_(0, 1).permute(0, 3, 1, 2), masks
