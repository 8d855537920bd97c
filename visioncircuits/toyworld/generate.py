"""``generate(n, seed)``: labelled toy images with full ground-truth annotations.

Deterministic by ``(seed, image index)``: ``generate(10, s)`` is the first ten images of
``generate(1000, s)``, so a held-out set is just another seed and a test can regenerate
exactly what a model saw.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from visioncircuits.device import torch_threads
from visioncircuits.errors import InputError
from visioncircuits.toyworld.primitives import PRIMITIVE_INDEX, PRIMITIVES
from visioncircuits.toyworld.render import render
from visioncircuits.toyworld.scenes import CLASSES, plan_scene

CHUNK = 256


@dataclass
class ToyBatch:
    """Images and their annotations.

    ``images`` (N, 3, H, W) float in [0, 1]; ``labels`` (N,) long class indices into
    ``CLASSES``; ``present`` (N, P) bool, ``present[i, p]`` iff primitive ``PRIMITIVES[p]``
    is drawn in image ``i`` (object part or clutter); ``params[i]`` the list of drawn
    instances (dicts with ``prims``, ``shape``, ``fill``, ``role`` and the geometry/colour
    numbers); ``masks`` (N, P, H, W) bool when generated ``with_masks`` (else call
    :meth:`compute_masks`).
    """

    images: torch.Tensor
    labels: torch.Tensor
    present: torch.Tensor
    params: list[list[dict]]
    backgrounds: list[dict]
    size: int
    masks: Optional[torch.Tensor] = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def compute_masks(self) -> torch.Tensor:
        """(N, P, H, W) visible masks, re-rendered from the annotations (and kept)."""
        if self.masks is None:
            masks = render(self.params, self.backgrounds, self.size, with_masks=True)[1]
            assert masks is not None  # with_masks=True
            self.masks = masks
        return self.masks

    def to(self, device) -> ToyBatch:
        """Move the tensors (images, labels, present, masks) to ``device``."""
        return ToyBatch(self.images.to(device), self.labels.to(device), self.present.to(device), self.params,
                        self.backgrounds, self.size, None if self.masks is None else self.masks.to(device))


def presence(scenes: Sequence[Sequence[dict]]) -> torch.Tensor:
    """(N, P) bool from instance annotations."""
    out = torch.zeros(len(scenes), len(PRIMITIVES), dtype=torch.bool)
    for i, scene in enumerate(scenes):
        for inst in scene:
            for p in inst["prims"]:
                out[i, PRIMITIVE_INDEX[p]] = True
    return out


def plan(n: int, seed: int, classes: Optional[Sequence[int]] = None) -> tuple[list, list, list[int]]:
    """Scene plans for ``n`` images: image ``i`` depends only on ``(seed, i)``."""
    scenes, backgrounds, labels = [], [], []
    for i in range(n):
        rng = np.random.default_rng([int(seed), i])
        label = int(classes[i]) if classes is not None else int(rng.integers(len(CLASSES)))
        scene, bg = plan_scene(rng, label)
        scenes.append(scene)
        backgrounds.append(bg)
        labels.append(label)
    return scenes, backgrounds, labels


def _check(n: int, size: int) -> None:
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise InputError(f"n must be a non-negative integer, got {n!r}")
    if not isinstance(size, (int, np.integer)) or size < 16:
        raise InputError(f"size must be an integer >= 16, got {size!r}")


def generate(n: int, seed: int = 0, size: int = 64, with_masks: bool = False, classes: Optional[Sequence[int]] = None,
             progress: bool = False) -> ToyBatch:
    """``n`` toy images, balanced in expectation over ``CLASSES`` (or of the given ``classes``).

    ``with_masks`` also renders the (N, P, H, W) primitive masks (memory: N * P * H * W bytes).
    """
    _check(n, size)
    if classes is not None and len(classes) != n:
        raise InputError(f"classes must have n={n} entries, got {len(classes)}")
    with torch_threads(1):
        return _generate(n, seed, size, with_masks, classes, progress)


def _generate(n: int, seed: int, size: int, with_masks: bool, classes, progress: bool) -> ToyBatch:
    scenes, backgrounds, labels = plan(n, seed, classes)
    images, masks = [], []
    for lo in tqdm(range(0, n, CHUNK), disable=not progress, desc="toyworld", unit="chunk"):
        img, m = render(scenes[lo : lo + CHUNK], backgrounds[lo : lo + CHUNK], size, with_masks)
        images.append(img)
        if m is not None:
            masks.append(m)
    empty = torch.zeros(0, 3, size, size)
    return ToyBatch(
        images=torch.cat(images) if images else empty,
        labels=torch.tensor(labels, dtype=torch.long),
        present=presence(scenes),
        params=scenes,
        backgrounds=backgrounds,
        size=size,
        masks=(torch.cat(masks) if masks else torch.zeros(0, len(PRIMITIVES), size, size, dtype=torch.bool))
        if with_masks
        else None,
    )
