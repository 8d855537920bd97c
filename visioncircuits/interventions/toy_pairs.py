"""Toy image pairs that differ in one primitive: a class scene with and without one of its parts.

Activation patching needs a clean and a corrupted input that differ in a known way. The toy
world draws every scene from a plan, so the corrupted image is the same plan with the
object's instances of one primitive left out (the face without its dots): same background,
same clutter, same position. Annotation-only instances (the dog ear's rim, the beach's
boundary line) go with the drawn instance whose box holds their centre, and the removed
primitives are everything those instances carried. Each pair therefore has a ground truth:
the units labelled with the removed primitives should carry the patching effect.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from visioncircuits.errors import InputError
from visioncircuits.toyworld.generate import plan
from visioncircuits.toyworld.render import bbox, render
from visioncircuits.toyworld.scenes import CLASSES


@dataclass
class PrimitivePairs:
    """``n`` clean images of class ``cls`` and the same scenes with ``removed`` primitives left out."""

    cls: str
    removed: tuple[str, ...]
    clean: torch.Tensor
    corrupted: torch.Tensor

    @property
    def name(self) -> str:
        return f"{self.cls} - {'+'.join(self.removed)}"


def _inside(point: tuple[float, float], box: tuple[float, float, float, float]) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def _removal(scene: list[dict], part: tuple[str, ...]) -> tuple[list[dict], set[str]]:
    """The scene without the object's drawn instances whose primitives are ``part`` (and their annotations)."""
    drop = [i for i in scene if i["role"] == "object" and i["draw"] and tuple(i["prims"]) == part]
    boxes = [bbox(i) for i in drop]
    for i in scene:
        if i["role"] == "object" and not i["draw"] and "cx" in i and any(_inside((i["cx"], i["cy"]), b) for b in boxes):
            drop.append(i)
    ids = {id(i) for i in drop}
    return [i for i in scene if id(i) not in ids], {p for i in drop for p in i["prims"]}


def removal_pairs(cls: str, n: int, seed: int, size: int = 64) -> list[PrimitivePairs]:
    """For each drawn part of class ``cls`` (instances with the same primitives), ``n`` pairs.

    Image ``i`` of every part shares one plan (``seed``, ``i``), so the pairs of different
    parts have the same clean images.
    """
    if cls not in CLASSES:
        raise InputError(f"unknown toy class '{cls}'; choose from {', '.join(CLASSES)}")
    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    scenes, backgrounds, _ = plan(n, seed, [CLASSES.index(cls)] * n)
    parts = list(dict.fromkeys(tuple(i["prims"]) for i in scenes[0] if i["role"] == "object" and i["draw"]))
    clean = render(scenes, backgrounds, size)[0]
    out = []
    for part in parts:
        cut = [_removal(s, part) for s in scenes]
        removed = tuple(sorted(set().union(*(r for _, r in cut))))
        if not removed:
            continue
        out.append(PrimitivePairs(cls, removed, clean, render([s for s, _ in cut], backgrounds, size)[0]))
    return out
