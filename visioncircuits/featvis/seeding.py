"""Per-image seeds: a rendering depends on what it renders, never on how the work was split.

Why: a gallery renders many units per batch, and shards, resumes and batch sizes change which
units share a batch. If an image's random start or its per-step transform draws came from its
position in a batch (or one generator shared by the batch), the same unit would look different
after a resume. So every image gets its own seed, a stable hash (``hashlib``, not Python's
salted ``hash()``) of its identity: the seeding scheme's version, the model's name, the image's
key (the unit address or objective name plus its role, e.g. ``"|negative"``, ``"|diverse-2"``)
and the user's seed. The seed drives both the parameterisation's initial values and the image's
own stream of transform draws (:class:`ImageRNG`), both drawn on the CPU, so they are also the
same on any device.

``SEEDING_VERSION`` is part of every fingerprint of a rendered output (gallery units, atlas
cells, results files): bump it whenever the scheme (and so every rendering) changes.
"""
from __future__ import annotations

import hashlib
from typing import Optional, Sequence

import torch

SEEDING_VERSION = 2  # 1: seeds from (seed, position in the batch list), one generator per batch
_BLOCK = 64  # uniforms drawn per image per refill of the buffer


def image_seed(model_name: str, key: str, seed: int) -> int:
    """A 63-bit seed for one image from its identity (stable across processes and platforms).

    Examples:
        >>> image_seed("toy-vgg-s0", "conv3:5", 0) == image_seed("toy-vgg-s0", "conv3:5", 0)
        True
        >>> image_seed("toy-vgg-s0", "conv3:5", 0) == image_seed("toy-vgg-s1", "conv3:5", 0)
        False
    """
    text = f"v{SEEDING_VERSION}\x1f{model_name}\x1f{key}\x1f{int(seed)}"
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") & (2**63 - 1)


def image_seeds(model_name: str, keys: Sequence[str], seed: int) -> list:
    """:func:`image_seed` for each key."""
    return [image_seed(model_name, k, seed) for k in keys]


class ImageRNG:
    """One independent random stream per image, served in vectorised blocks.

    Transforms ask for ``uniform(k)`` -> (n, k) on their device: row ``i`` comes only from image
    ``i``'s generator (CPU, seeded from its identity), so image ``i``'s draws do not depend on the
    other images in the batch, its position, the batch size or the device. Draws are buffered
    ``_BLOCK`` at a time per image (one small call per image per refill, not per transform).
    """

    def __init__(self, seeds: Sequence[int], stream: str = "transforms"):
        salt = int.from_bytes(hashlib.blake2b(stream.encode(), digest_size=8).digest(), "big")
        self.gens = [torch.Generator(device="cpu").manual_seed((int(s) ^ salt) & (2**63 - 1)) for s in seeds]
        self.n = len(self.gens)
        self._buf = torch.empty(self.n, 0)
        self._pos = 0

    def uniform(self, k: int, device=None) -> torch.Tensor:
        """(n, k) uniforms in [0, 1); row i from image i's own stream."""
        out = []
        need = int(k)
        while need > 0:
            if self._pos >= self._buf.shape[1]:
                self._buf = torch.stack([torch.rand(_BLOCK, generator=g) for g in self.gens])
                self._pos = 0
            take = min(need, self._buf.shape[1] - self._pos)
            out.append(self._buf[:, self._pos:self._pos + take])
            self._pos += take
            need -= take
        u = torch.cat(out, dim=1) if len(out) > 1 else out[0]
        return u.to(device) if device is not None else u

    def randint(self, low: int, high: int, k: int, device=None) -> torch.Tensor:
        """(n, k) integers in [low, high) (as ``torch.randint``), row i from image i's stream."""
        span = int(high) - int(low)
        idx = (self.uniform(k) * span).long().clamp_(max=span - 1) + int(low)
        return idx.to(device) if device is not None else idx


def check_rng(gen: Optional[object], n: int) -> None:
    """An :class:`ImageRNG` must have one stream per image of the batch it draws for."""
    if isinstance(gen, ImageRNG) and gen.n != n:
        raise ValueError(f"ImageRNG has {gen.n} streams for a batch of {n} images")
