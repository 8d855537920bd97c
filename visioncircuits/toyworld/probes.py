"""Probe sets: single primitives at controlled orientation, radius, colour and position.

These are the stimuli of tuning curves (as in the Curve Detectors paper): render a unit's
response against the swept parameter. Each probe image holds exactly one primitive, centred
on a plain mid-grey background (unless the sweep is over position).
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from visioncircuits.errors import InputError
from visioncircuits.toyworld.primitives import PRIMITIVES
from visioncircuits.toyworld.render import render
from visioncircuits.toyworld.scenes import make_primitive, move

KINDS = ("curve", "line", "colour", "position", "primitive")


@dataclass
class ProbeSet:
    """``images`` (N, 3, H, W) in [0, 1]; ``values[i]`` the swept parameters of image ``i``
    (e.g. ``{"orientation": 45.0, "radius": 6.0}``); ``primitive[i]`` the primitive drawn."""

    kind: str
    images: torch.Tensor
    values: list[dict]
    primitive: list[str]

    def __len__(self) -> int:
        return len(self.values)

    def column(self, key: str) -> np.ndarray:
        """The swept parameter ``key`` as an array (the x axis of a tuning curve)."""
        return np.array([v[key] for v in self.values], dtype=float)


def _bg(grey: float = 0.75) -> dict:
    return {"rgb": [grey] * 3, "grad": [0.0, 0.0], "noise_seed": 0}


def probe_set(kind: str, steps: int = 16, size: int = 64, seed: int = 0, primitive: Optional[str] = None,
              radii: Sequence[float] = (5.0, 7.0, 9.0), per_primitive: int = 8) -> ProbeSet:
    """Stimuli for tuning curves.

    - ``curve``: arcs at ``steps`` orientations in [0, 360) times ``radii``.
    - ``line``: lines at ``steps`` orientations in [0, 180).
    - ``colour``: blobs at ``steps`` hues in [0, 360) (saturation 0.8, value 0.85).
    - ``position``: ``primitive`` (default ``curve_45deg``) on a ``steps`` x ``steps`` grid.
    - ``primitive``: every primitive alone, ``per_primitive`` random variants each.
    """
    if kind not in KINDS:
        from visioncircuits.errors import unknown

        raise unknown("probe kind", kind, KINDS)
    if steps < 1:
        raise InputError(f"steps must be >= 1, got {steps}")
    rng = np.random.default_rng(seed)
    scenes, values, prims = [], [], []
    centre = 32.0
    if kind == "curve":
        for r in radii:
            for k in range(steps):
                th = 360.0 * k / steps
                scenes.append(move(make_primitive(rng, "curve_0deg", theta=th, r=r)[0], centre, centre))
                values.append({"orientation": th, "radius": float(r)})
                prims.append(f"curve_{int(round(th / 45.0)) % 8 * 45}deg")
    elif kind == "line":
        for k in range(steps):
            a = 180.0 * k / steps
            scenes.append(move(make_primitive(rng, "line_0deg", angle=a, length=12.0)[0], centre, centre))
            values.append({"orientation": a})
            prims.append(f"line_{int(round(a / 45.0)) % 4 * 45}deg")
    elif kind == "colour":
        for k in range(steps):
            hue = 360.0 * k / steps
            rgb = colorsys.hsv_to_rgb(hue / 360.0, 0.8, 0.85)
            col = {"r0": rgb[0], "g0": rgb[1], "b0": rgb[2]}
            scenes.append(move(make_primitive(rng, "red_blob", colour=col, r=6.0)[0], centre, centre))
            values.append({"hue": hue})
            prims.append("blob")
    elif kind == "position":
        prim = primitive or "curve_45deg"
        if prim not in PRIMITIVES:
            from visioncircuits.errors import unknown

            raise unknown("primitive", prim, PRIMITIVES)
        for yi in range(steps):
            for xi in range(steps):
                x, y = 10 + 44 * xi / max(steps - 1, 1), 10 + 44 * yi / max(steps - 1, 1)
                scenes.append(move(make_primitive(rng, prim)[0], x, y))
                values.append({"x": x, "y": y})
                prims.append(prim)
    else:
        for prim in PRIMITIVES:
            for _ in range(per_primitive):
                scenes.append(
                    move(make_primitive(rng, prim)[0], centre + rng.uniform(-8, 8), centre + rng.uniform(-8, 8))
                )
                values.append({})
                prims.append(prim)
    images, _ = render(scenes, [_bg()] * len(scenes), size)
    return ProbeSet(kind=kind, images=images.contiguous(), values=values, primitive=prims)
