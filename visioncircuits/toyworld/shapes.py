"""Batched signed-distance shapes and fills: the drawing kernels of the toy world.

Every function takes per-instance parameters as 1-D tensors of length K and the pixel
grid, and returns (K, H, W) (shapes) or (K, 3, H, W) (fills), so a whole batch of images is
drawn with a few tensor operations per shape kind instead of a Python loop per pixel.
Coordinates are in a 64x64 canvas (x right, y down) whatever the output size; edges are
anti-aliased from the signed distance.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

Params = dict[str, torch.Tensor]

SHAPE_KEYS = {
    "disc": ("cx", "cy", "r"),
    "ring": ("cx", "cy", "r", "w"),
    "arc": ("cx", "cy", "r", "w", "theta", "span"),
    "seg": ("x0", "y0", "x1", "y1", "w"),
    "rect": ("cx", "cy", "ax", "ay"),
    "ellipse": ("cx", "cy", "a", "b"),
    "arch": ("cx", "cy", "a", "h"),
    "band": ("cx", "cy", "s", "nx", "ny", "bw"),
}
FILL_KEYS = {
    "solid": ("r0", "g0", "b0"),
    "wheel": ("r0", "g0", "b0", "cx", "cy", "r"),
    "stripes": ("r0", "g0", "b0", "r1", "g1", "b1", "angle", "period", "phase"),
    "dots": ("r0", "g0", "b0", "period", "rd", "cx", "cy"),
    "fur": ("r0", "g0", "b0", "bank", "ox", "oy"),
    "checker": ("r0", "g0", "b0", "r1", "g1", "b1", "period", "cx", "cy"),
    "freq": ("r0", "g0", "b0", "r1", "g1", "b1", "cx", "cy", "nx", "ny", "seed"),
}
PATTERN_FILLS = ("dots",)  # fills that are transparent between their marks


@lru_cache(maxsize=8)
def grid(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates on the 64-unit canvas, each (1, H, W)."""
    c = (torch.arange(size, dtype=torch.float32) + 0.5) * (64.0 / size)
    y, x = torch.meshgrid(c, c, indexing="ij")
    return x[None], y[None]


def _col(p: Params, k: str) -> torch.Tensor:
    return p[k][:, None, None]


def signed_distance(kind: str, p: Params, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Signed distance (canvas units, negative inside) of ``kind`` shapes at points (X, Y).

    ``X``/``Y`` broadcast against (K, 1, 1) parameters: the full grid, or per-instance crops.
    """
    g = lambda k: _col(p, k)  # noqa: E731
    if kind == "disc":
        return torch.hypot(X - g("cx"), Y - g("cy")) - g("r")
    if kind == "ring":
        return (torch.hypot(X - g("cx"), Y - g("cy")) - g("r")).abs() - g("w") / 2
    if kind == "arc":
        return _arc(X, Y, g)
    if kind == "seg":
        return _segment(X, Y, g("x0"), g("y0"), g("x1"), g("y1")) - g("w") / 2
    if kind == "rect":
        return torch.maximum((X - g("cx")).abs() - g("ax"), (Y - g("cy")).abs() - g("ay"))
    if kind == "ellipse":
        a, b = g("a"), g("b")
        return (torch.hypot((X - g("cx")) / a, (Y - g("cy")) / b) - 1) * torch.minimum(a, b)
    if kind == "arch":  # a rectangle with a half-disc on top: the dog ear's rounded outline
        cx, cy, a, h = g("cx"), g("cy"), g("a"), g("h")
        rect = torch.maximum((X - cx).abs() - a, (Y - (cy + h / 2)).abs() - h / 2)
        return torch.minimum(rect, torch.hypot(X - cx, Y - cy) - a)
    if kind == "band":  # the strip along a patch's dividing line (freq boundary annotation)
        dx, dy = X - g("cx"), Y - g("cy")
        inside = torch.maximum(dx.abs() - g("s"), dy.abs() - g("s"))
        return torch.maximum(inside, (dx * g("nx") + dy * g("ny")).abs() - g("bw"))
    raise ValueError(f"unknown shape kind {kind!r}")


def _segment(X, Y, x0, y0, x1, y1) -> torch.Tensor:
    vx, vy = x1 - x0, y1 - y0
    t = (((X - x0) * vx + (Y - y0) * vy) / (vx * vx + vy * vy).clamp_min(1e-6)).clamp(0, 1)
    return torch.hypot(X - x0 - t * vx, Y - y0 - t * vy)


def _arc(X, Y, g) -> torch.Tensor:
    """Arc of the circle (cx, cy, r) whose bulge points at ``theta`` degrees, +-``span``/2."""
    cx, cy, r, w = g("cx"), g("cy"), g("r"), g("w")
    th = torch.deg2rad(g("theta"))
    half = torch.deg2rad(g("span")) / 2
    ux, uy = torch.cos(th), -torch.sin(th)  # image y points down
    dx, dy = X - cx, Y - cy
    rho = torch.hypot(dx, dy)
    in_span = (dx * ux + dy * uy) >= rho * torch.cos(half)
    ring = (rho - r).abs()
    ends = []
    for sgn in (1.0, -1.0):
        a = th + sgn * half
        ends.append(torch.hypot(X - (cx + r * torch.cos(a)), Y - (cy - r * torch.sin(a))))
    return torch.where(in_span, ring, torch.minimum(*ends)) - w / 2


def alpha_from_distance(d: torch.Tensor, size: int) -> torch.Tensor:
    """Anti-aliased coverage in [0, 1] from a signed distance in canvas units."""
    return (0.5 - d * (size / 64.0)).clamp(0, 1)


@lru_cache(maxsize=4)
def fur_bank(size: int, n: int = 8) -> torch.Tensor:
    """(n, size, size) fur-like textures in [0, 1]: noise smeared along a random direction.

    Built once from a fixed seed so every call of the generator sees the same textures.
    """
    gen = torch.Generator().manual_seed(1234)
    noise = torch.rand(n, 1, size, size, generator=gen)
    out = []
    k = 7
    for i in range(n):
        ang = float(torch.rand(1, generator=gen)) * math.pi
        ker = torch.zeros(k, k)
        for t in torch.linspace(-3, 3, 13):
            x = int(round(3 + float(t) * math.cos(ang)))
            y = int(round(3 - float(t) * math.sin(ang)))
            ker[y, x] = 1.0
        ker /= ker.sum()
        sm = F.conv2d(F.pad(noise[i : i + 1], (3, 3, 3, 3), mode="circular"), ker[None, None])[0, 0]
        sm = (sm - sm.mean()) / sm.std().clamp_min(1e-6)
        out.append((0.5 + 0.22 * sm).clamp(0, 1))
    return torch.stack(out)


def _rgb(p: Params, i: int) -> torch.Tensor:
    return torch.stack([p[f"r{i}"], p[f"g{i}"], p[f"b{i}"]], 1)[:, :, None, None]


def _hash_noise(X, Y, seed) -> torch.Tensor:
    """Deterministic per-pixel noise in [0, 1) from coordinates and a per-instance seed."""
    v = torch.sin(X * 12.9898 + Y * 78.233 + seed * 0.6180339) * 43758.5453
    return v - torch.floor(v)


def fill(kind: str, p: Params, X: torch.Tensor, Y: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(K, 3, h, w) colour of ``kind`` fills at points (X, Y), and a (K, h, w) pattern alpha or None.

    ``size`` is the output image size (pattern edges are anti-aliased in pixels).
    """
    g = lambda k: _col(p, k)  # noqa: E731
    c0 = _rgb(p, 0)
    if kind == "solid":
        return c0, None
    if kind == "wheel":
        hub = torch.hypot(X - g("cx"), Y - g("cy")) < 0.4 * g("r")
        return torch.where(hub[:, None], torch.full_like(c0, 0.7), c0), None
    if kind == "stripes":
        th = torch.deg2rad(g("angle"))
        v = torch.sin(2 * math.pi * (X * torch.cos(th) - Y * torch.sin(th)) / g("period") + g("phase"))
        t = (0.5 + 1.5 * v).clamp(0, 1)[:, None]
        return c0 * t + _rgb(p, 1) * (1 - t), None
    if kind == "dots":
        per = g("period")
        fx = torch.remainder(X - g("cx"), per) - per / 2
        fy = torch.remainder(Y - g("cy"), per) - per / 2
        pat = (g("rd") + 0.5 - torch.hypot(fx, fy) * (size / 64.0)).clamp(0, 1)
        return c0, pat
    if kind == "fur":
        bank = fur_bank(size)
        yy = (Y * (size / 64.0)).long()
        xx = (X * (size / 64.0)).long()
        oy = (p["oy"].long() % size)[:, None, None]
        ox = (p["ox"].long() % size)[:, None, None]
        tex = bank[p["bank"].long()[:, None, None], (yy + oy) % size, (xx + ox) % size]
        return (c0 * (0.35 + 1.3 * tex[:, None])).clamp(0, 1), None
    if kind == "checker":
        per = g("period")
        par = torch.remainder(torch.floor((X - g("cx")) / per) + torch.floor((Y - g("cy")) / per), 2)[:, None]
        return torch.where(par > 0.5, c0, _rgb(p, 1)), None
    if kind == "freq":  # flat colour on one side of a line, fine noise on the other
        side = ((X - g("cx")) * g("nx") + (Y - g("cy")) * g("ny")) > 0
        noise = _hash_noise(X, Y, g("seed"))[:, None]
        rough = (_rgb(p, 1) + 0.7 * (noise - 0.5)).clamp(0, 1)
        return torch.where(side[:, None], rough, c0), None
    raise ValueError(f"unknown fill kind {kind!r}")
