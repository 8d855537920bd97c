"""Scene plans: which primitives go where, for each class and for the background clutter.

A plan is plain data (lists of dicts of floats), so every image's annotations are exactly
the parameters it was drawn from. Classes are compositions of primitives in a fixed
arrangement (face = ring + two dots + smile); clutter is drawn from primitives that are
*not* parts of the image's class, and never overlaps the object, so every primitive of
the vocabulary appears in every class's images and no single primitive pixel gives the
class away.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from visioncircuits.toyworld.primitives import COLOURS, CURVE_ANGLES, LINE_ANGLES, PRIMITIVES

Instance = dict
BBox = tuple[float, float, float, float]  # xmin, ymin, xmax, ymax relative to the centre

CLASS_PRIMITIVES: dict[str, list[str]] = {
    "face": ["ring", "dot", "curve_270deg"],
    "car": ["box", "wheel"],
    "dog_ear": ["curve_90deg", "fur", "brown_blob"],
    "house": ["box", "line_45deg", "line_135deg"],
    "flower": ["yellow_blob", "red_blob", "line_90deg"],
    "fish": ["stripes", "curve_0deg", "dot"],
    "tree": ["green_blob", "line_90deg"],
    "clock": ["ring", "line_0deg", "line_90deg"],
    "ladybug": ["red_blob", "dots"],
    "beach": ["freq_boundary", "blue_blob"],
}
CLASSES: list[str] = list(CLASS_PRIMITIVES)
CANVAS = 64.0
MOVE_KEYS = {"cx": 0, "x0": 0, "x1": 0, "cy": 1, "y0": 1, "y1": 1}


# ---------------------------------------------------------------------- colours
def _rgb(c, i: int = 0) -> dict:
    return {f"r{i}": float(c[0]), f"g{i}": float(c[1]), f"b{i}": float(c[2])}


def named(rng: np.random.Generator, name: str, i: int = 0, jitter: float = 0.06) -> dict:
    return _rgb(np.clip(np.array(COLOURS[name]) + rng.uniform(-jitter, jitter, 3), 0, 1), i)


def grey(rng: np.random.Generator, lo: float, hi: float, i: int = 0, tint: float = 0.04) -> dict:
    return _rgb(np.clip(rng.uniform(lo, hi) + rng.uniform(-tint, tint, 3), 0, 1), i)


def dark(rng: np.random.Generator, i: int = 0) -> dict:
    return grey(rng, 0.03, 0.22, i)


def inst(prims: list[str], shape: str, fill: str, colour: dict, draw: bool = True, **geo) -> Instance:
    return {
        "prims": list(prims),
        "shape": shape,
        "fill": fill,
        "draw": draw,
        **colour,
        **{k: float(v) for k, v in geo.items()},
    }


def _dir(deg: float) -> tuple[float, float]:
    a = math.radians(deg)
    return math.cos(a), -math.sin(a)


# ---------------------------------------------------------------------- primitives
def make_primitive(rng: np.random.Generator, prim: str, s: float = 1.0, **over) -> tuple[list[Instance], BBox]:
    """One stand-alone primitive centred at (0, 0) with size factor ``s``; ``over`` fixes params."""
    if prim.startswith("curve_"):
        theta = over.get("theta", float(prim[6:-3]))
        r = over.get("r", rng.uniform(5, 7) * s)
        ux, uy = _dir(theta)  # centre the arc's visible part on (0, 0)
        cx, cy = -ux * r * 0.5, -uy * r * 0.5
        i = inst(
            [prim],
            "arc",
            "solid",
            over.get("colour", dark(rng)),
            cx=cx,
            cy=cy,
            r=r,
            w=2.0 * max(s, 0.8),
            theta=theta,
            span=100,
        )
        return [i], (-r * 0.9, -r * 0.9, r * 0.9, r * 0.9)
    if prim.startswith("line_"):
        ang = over.get("angle", float(prim[5:-3]))
        half = over.get("length", rng.uniform(9, 13) * s) / 2
        ux, uy = _dir(ang)
        i = inst(
            [prim],
            "seg",
            "solid",
            over.get("colour", dark(rng)),
            x0=-ux * half,
            y0=-uy * half,
            x1=ux * half,
            y1=uy * half,
            w=2.0 * max(s, 0.8),
        )
        e = half + 1.5
        return [i], (-e, -e, e, e)
    if prim == "ring":
        r = over.get("r", rng.uniform(4, 6) * s)
        return [inst([prim], "ring", "solid", over.get("colour", dark(rng)), cx=0, cy=0, r=r, w=1.8)], _sq(r + 1.5)
    if prim == "dot":
        r = over.get("r", rng.uniform(1.5, 2.3) * s)
        return [inst([prim], "disc", "solid", over.get("colour", dark(rng)), cx=0, cy=0, r=r)], _sq(r + 1)
    if prim == "wheel":
        r = over.get("r", rng.uniform(3.5, 5) * s)
        return [inst([prim], "disc", "wheel", over.get("colour", dark(rng)), cx=0, cy=0, r=r)], _sq(r + 1)
    if prim == "box":
        ax, ay = over.get("ax", rng.uniform(3.5, 7) * s), over.get("ay", rng.uniform(3.5, 7) * s)
        return [inst([prim], "rect", "solid", over.get("colour", grey(rng, 0.22, 0.45)), cx=0, cy=0, ax=ax, ay=ay)], (
            -ax - 1,
            -ay - 1,
            ax + 1,
            ay + 1,
        )
    if prim.endswith("_blob"):
        r = over.get("r", rng.uniform(4, 7) * s)
        colour = over.get("colour", named(rng, prim[:-5]))
        return [inst([prim], "disc", "solid", colour, cx=0, cy=0, r=r)], _sq(r + 1)
    if prim in ("stripes", "dots", "fur", "checker"):
        r = over.get("r", rng.uniform(6, 8) * s)
        return [texture_disc(rng, prim, r, **over)], _sq(r + 1)
    if prim == "freq_boundary":
        half = over.get("half", rng.uniform(6, 8) * s)
        ang = over.get("angle", rng.uniform(0, 360))
        nx, ny = _dir(ang)
        patch = inst(
            [],
            "rect",
            "freq",
            {**grey(rng, 0.3, 0.75), **grey(rng, 0.35, 0.65, 1)},
            cx=0,
            cy=0,
            ax=half,
            ay=half,
            nx=nx,
            ny=ny,
            seed=rng.integers(1 << 20),
        )
        band = inst([prim], "band", "solid", _rgb((0, 0, 0)), draw=False, cx=0, cy=0, s=half, nx=nx, ny=ny, bw=1.5)
        return [patch, band], _sq(half + 1)
    raise ValueError(f"unknown primitive {prim!r}")


def _sq(e: float) -> BBox:
    return (-e, -e, e, e)


def texture_disc(rng: np.random.Generator, prim: str, r: float, **over) -> Instance:
    if prim == "stripes":
        col = {**grey(rng, 0.8, 0.95), **grey(rng, 0.1, 0.55, 1)}
        return inst(
            [prim],
            "disc",
            "stripes",
            over.get("colour", col),
            cx=0,
            cy=0,
            r=r,
            angle=over.get("angle", rng.uniform(0, 180)),
            period=rng.uniform(3.5, 5),
            phase=rng.uniform(0, 2 * math.pi),
        )
    if prim == "dots":
        return inst(
            [prim], "disc", "dots", over.get("colour", dark(rng)), cx=0, cy=0, r=r, period=rng.uniform(4.5, 5.5), rd=1.3
        )
    if prim == "fur":
        return inst([prim], "disc", "fur", over.get("colour", grey(rng, 0.35, 0.7)), cx=0, cy=0, r=r,
                    bank=rng.integers(8), ox=rng.integers(64), oy=rng.integers(64))
    col = {**grey(rng, 0.75, 0.95), **grey(rng, 0.05, 0.3, 1)}
    return inst([prim], "disc", "checker", over.get("colour", col), cx=0, cy=0, r=r, period=rng.uniform(2.5, 3.5))


# ---------------------------------------------------------------------- classes
def _face(rng, s):
    d = dark(rng)
    out = [inst(["ring"], "ring", "solid", d, cx=0, cy=0, r=12 * s, w=2.2 * s)]
    out += [inst(["dot"], "disc", "solid", d, cx=sx * 4.5 * s, cy=-3.5 * s, r=1.9 * s) for sx in (-1, 1)]
    out.append(inst(["curve_270deg"], "arc", "solid", d, cx=0, cy=-1 * s, r=7 * s, w=2 * s, theta=270, span=100))
    return out, _sq(13.5 * s)


def _car(rng, s):
    out = [inst(["box"], "rect", "solid", grey(rng, 0.22, 0.45), cx=0, cy=-2 * s, ax=14 * s, ay=5.5 * s)]
    d = dark(rng)
    out += [inst(["wheel"], "disc", "wheel", d, cx=sx * 8 * s, cy=4.5 * s, r=4.2 * s) for sx in (-1, 1)]
    return out, (-15 * s, -8.5 * s, 15 * s, 9.7 * s)


def _dog_ear(rng, s):
    ear = inst(["brown_blob", "fur"], "arch", "fur", named(rng, "brown"), cx=0, cy=-4 * s, a=9 * s, h=14 * s,
               bank=rng.integers(8), ox=rng.integers(64), oy=rng.integers(64))
    rim = inst(
        ["curve_90deg"],
        "arc",
        "solid",
        _rgb((0, 0, 0)),
        draw=False,
        cx=0,
        cy=-4 * s,
        r=9 * s,
        w=2.5,
        theta=90,
        span=100,
    )
    return [ear, rim], (-10 * s, -14 * s, 10 * s, 11 * s)


def _house(rng, s):
    d = dark(rng)
    return [
        inst(["box"], "rect", "solid", grey(rng, 0.22, 0.45), cx=0, cy=3 * s, ax=10 * s, ay=7 * s),
        inst(["line_45deg"], "seg", "solid", d, x0=-11 * s, y0=-4 * s, x1=0, y1=-15 * s, w=2.2 * s),
        inst(["line_135deg"], "seg", "solid", d, x0=0, y0=-15 * s, x1=11 * s, y1=-4 * s, w=2.2 * s),
    ], (-12.5 * s, -16.5 * s, 12.5 * s, 11 * s)


def _flower(rng, s):
    out = [
        inst(
            ["line_90deg"], "seg", "solid", grey(rng, 0.05, 0.2) | {"g0": 0.3}, x0=0, y0=2 * s, x1=0, y1=15 * s, w=2 * s
        )
    ]
    red = named(rng, "red")
    for k in range(6):
        a = 2 * math.pi * k / 6 + rng.uniform(0, 1)
        out.append(
            inst(
                ["red_blob"],
                "disc",
                "solid",
                red,
                cx=6.5 * s * math.cos(a),
                cy=-5 * s + 6.5 * s * math.sin(a),
                r=3.3 * s,
            )
        )
    out.append(inst(["yellow_blob"], "disc", "solid", named(rng, "yellow"), cx=0, cy=-5 * s, r=3.6 * s))
    return out, (-11 * s, -16 * s, 11 * s, 16.5 * s)


def _fish(rng, s):
    body = inst(
        ["stripes"],
        "ellipse",
        "stripes",
        {**grey(rng, 0.8, 0.95), **grey(rng, 0.4, 0.6, 1)},
        cx=0,
        cy=0,
        a=12 * s,
        b=7 * s,
        angle=0,
        period=rng.uniform(3.5, 5),
        phase=rng.uniform(0, 2 * math.pi),
    )
    d = dark(rng)
    nose = inst(["curve_0deg"], "arc", "solid", d, cx=4 * s, cy=0, r=8 * s, w=2 * s, theta=0, span=90)
    eye = inst(["dot"], "disc", "solid", d, cx=6 * s, cy=-2.5 * s, r=1.7 * s)
    out = [body, nose, eye]
    return out, (-13.5 * s, -8 * s, 13.5 * s, 8 * s)


def _tree(rng, s):
    return [
        inst(["line_90deg"], "seg", "solid", dark(rng), x0=0, y0=2 * s, x1=0, y1=15 * s, w=3 * s),
        inst(["green_blob"], "disc", "solid", named(rng, "green"), cx=0, cy=-5 * s, r=9 * s),
    ], (-10 * s, -15 * s, 10 * s, 16.5 * s)


def _clock(rng, s):
    d = dark(rng)
    side = 1 if rng.random() < 0.5 else -1
    return [
        inst(["ring"], "ring", "solid", d, cx=0, cy=0, r=12 * s, w=2 * s),
        inst(["line_90deg"], "seg", "solid", d, x0=0, y0=0, x1=0, y1=-9 * s, w=2 * s),
        inst(["line_0deg"], "seg", "solid", d, x0=0, y0=0, x1=side * 7 * s, y1=0, w=2 * s),
    ], _sq(13.5 * s)


def _ladybug(rng, s):
    return [
        inst(["red_blob"], "disc", "solid", named(rng, "red"), cx=0, cy=0, r=10 * s),
        inst(["dots"], "disc", "dots", dark(rng), cx=0, cy=0, r=10 * s, period=rng.uniform(4.5, 5.5), rd=1.3),
    ], _sq(11 * s)


def _beach(rng, s):
    sand = _rgb(np.clip(np.array([0.72, 0.66, 0.52]) + rng.uniform(-0.05, 0.05, 3), 0, 1), 1)
    patch = inst(
        [],
        "rect",
        "freq",
        {**named(rng, "blue"), **sand},
        cx=0,
        cy=0,
        ax=14 * s,
        ay=10 * s,
        nx=0,
        ny=1,
        seed=rng.integers(1 << 20),
    )
    sea = inst(["blue_blob"], "rect", "solid", _rgb((0, 0, 0)), draw=False, cx=0, cy=-5 * s, ax=14 * s, ay=5 * s)
    band = inst(
        ["freq_boundary"], "band", "solid", _rgb((0, 0, 0)), draw=False, cx=0, cy=0, s=10 * s, nx=0, ny=1, bw=1.5
    )
    return [patch, sea, band], (-15 * s, -11 * s, 15 * s, 11 * s)


BUILDERS: dict[str, Callable] = {
    "face": _face, "car": _car, "dog_ear": _dog_ear, "house": _house, "flower": _flower,
    "fish": _fish, "tree": _tree, "clock": _clock, "ladybug": _ladybug, "beach": _beach,
}
assert list(BUILDERS) == CLASSES


def move(instances: list[Instance], dx: float, dy: float) -> list[Instance]:
    for i in instances:
        for k, axis in MOVE_KEYS.items():
            if k in i:
                i[k] += dx if axis == 0 else dy
    return instances


def _place(rng: np.random.Generator, bbox: BBox, taken: list[BBox], tries: int = 1) -> tuple[float, float] | None:
    x0, y0, x1, y1 = bbox
    for _ in range(tries):
        if x1 - x0 > CANVAS - 2 or y1 - y0 > CANVAS - 2:
            return None
        cx, cy = rng.uniform(1 - x0, CANVAS - 1 - x1), rng.uniform(1 - y0, CANVAS - 1 - y1)
        box = (cx + x0 - 1, cy + y0 - 1, cx + x1 + 1, cy + y1 + 1)
        if all(box[2] < t[0] or box[0] > t[2] or box[3] < t[1] or box[1] > t[3] for t in taken):
            taken.append(box)
            return cx, cy
    return None


def plan_scene(rng: np.random.Generator, label: int) -> tuple[list[Instance], dict]:
    """Instances (object parts then clutter, in drawing order) and background for one image."""
    name = CLASSES[label]
    s = rng.uniform(0.8, 1.15)
    obj, bbox = BUILDERS[name](rng, s)
    taken: list[BBox] = []
    placed = _place(rng, bbox, taken, tries=1)
    assert placed is not None  # the object comes first: an empty canvas always takes it
    cx, cy = placed
    for i in move(obj, cx, cy):
        i["role"] = "object"
    allowed = [p for p in PRIMITIVES if p not in CLASS_PRIMITIVES[name]]
    clutter: list[Instance] = []
    for _ in range(int(rng.choice(4, p=[0.1, 0.3, 0.35, 0.25]))):
        prim = allowed[rng.integers(len(allowed))]
        parts, pb = make_primitive(rng, prim)
        pos = _place(rng, pb, taken, tries=12)
        if pos is not None:
            for i in move(parts, *pos):
                i["role"] = "clutter"
            clutter += parts
    g = rng.uniform(0.6, 0.92)
    background = {"rgb": np.clip(g + rng.uniform(-0.05, 0.05, 3), 0, 1).tolist(),
                  "grad": rng.uniform(-0.08, 0.08, 2).tolist(), "noise_seed": int(rng.integers(1 << 20))}
    return clutter + obj, background


__all__ = ["CLASSES", "CLASS_PRIMITIVES", "plan_scene", "make_primitive", "CURVE_ANGLES", "LINE_ANGLES"]
