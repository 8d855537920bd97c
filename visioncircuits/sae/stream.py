"""Activation streams for SAE training: images -> layer activations -> shuffled (M, C) samples.

Why a stream: an SAE needs millions of samples, more than fits in memory for big layers, and
a small image folder must be multiplied by augmentation. Image sources yield batches of [0, 1]
images forever (random resized crops and flips of a folder, or fresh toy-world scenes); the
:class:`ActivationStream` runs the model up to the layer, turns each spatial position into a
sample (optionally keeping a random subset per image) and mixes samples from many images in
a shuffle buffer so a minibatch is not dominated by one picture.
"""
from __future__ import annotations

import logging
import math
import os
import random
from pathlib import Path
from typing import Any, Iterator, Optional

import torch
import torch.nn.functional as F

from visioncircuits.data import list_images, load_image, none_readable
from visioncircuits.errors import InputError
from visioncircuits.sae.models import flatten_positions

log = logging.getLogger(__name__)


def split_folder(folder: str | os.PathLike, holdout_every: int = 5) -> tuple[list[Path], list[Path]]:
    """(train, held-out) image paths: every ``holdout_every``-th file (sorted) is held out for
    evaluation, so both halves span the folder's classes; 0 holds nothing out."""
    paths = list_images(folder)
    if holdout_every <= 1 or len(paths) < 2 * holdout_every:
        return paths, paths
    held = [p for i, p in enumerate(paths) if i % holdout_every == holdout_every - 1]
    return [p for i, p in enumerate(paths) if i % holdout_every != holdout_every - 1], held


class FolderSource:
    """Endless random resized crops (scale ``min_scale``..1 of the area) with random flips.

    Files are read in a fresh random order each pass, decoded at ``load_size`` and cropped
    to ``size``; nothing but the current batch is held in memory. Unreadable files are
    skipped and counted in ``skipped``.
    """

    def __init__(self, folder: str | os.PathLike, size: int, seed: int = 0, min_scale: float = 0.25, flip: bool = True,
                 crops_per_image: int = 4, load_size: Optional[int] = None, paths: Optional[list] = None):
        self.paths = list(paths) if paths is not None else list_images(folder)
        if not self.paths:
            raise InputError(f"no images found in {folder}")
        self.folder, self.size, self.seed = str(folder), int(size), int(seed)
        self.min_scale, self.flip, self.crops_per_image = float(min_scale), bool(flip), max(1, int(crops_per_image))
        self.load_size = int(load_size or max(2 * size, 64))
        self.skipped: list[str] = []
        self.description = f"folder:{Path(folder).resolve()}"

    def _crop(self, img: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        _, h, w = img.shape
        r = torch.rand(4, generator=gen).tolist()
        scale = self.min_scale + (1 - self.min_scale) * r[0]
        side = max(1, int(round(math.sqrt(scale) * min(h, w))))
        top, left = int(r[1] * (h - side + 1)), int(r[2] * (w - side + 1))
        crop = img[:, top:top + side, left:left + side][None]
        crop = F.interpolate(crop, size=(self.size, self.size), mode="bilinear", align_corners=False,
                             antialias=side > self.size)[0]
        if self.flip and r[3] < 0.5:
            crop = crop.flip(-1)
        return crop.clamp(0, 1)

    def batches(self, batch_size: int, start: int = 0) -> Iterator[torch.Tensor]:
        """Yield (batch_size, 3, size, size) batches forever; ``start`` reseeds (for resume)."""
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + start)
        rng = random.Random(self.seed * 7919 + start)
        buf: list[torch.Tensor] = []
        while True:
            order = list(self.paths)
            rng.shuffle(order)
            readable = 0
            for p in order:
                try:
                    img = load_image(p, self.load_size)
                except OSError as e:  # data.UnreadableImageError included
                    if str(p) not in self.skipped:
                        log.warning("skipping unreadable image %s: %s", p, e)
                        self.skipped.append(str(p))
                    continue
                readable += 1
                for _ in range(self.crops_per_image):
                    buf.append(self._crop(img, gen))
                while len(buf) >= batch_size:
                    yield torch.stack(buf[:batch_size])
                    buf = buf[batch_size:]
            if readable == 0:
                raise none_readable(self.folder, len(self.paths), self.skipped)


class ToyWorldSource:
    """Fresh toy-world scenes for every batch (``visioncircuits.toyworld.generate``).

    ``isolated_fraction``: this share of every batch is images of one primitive alone (the
    ``primitive`` probe set's generator, random variants, shuffled; no labels are used). In
    scenes most positions are background and rare primitives (a dot, a texture patch) are a
    tiny share of the samples; mixing in isolated primitives lets a sparse dictionary see each
    of them often enough to give it its own latent.
    """

    ISOLATED_SEED_OFFSET = 1_000_000_007  # isolated-primitive seeds never meet scene or evaluation seeds

    def __init__(self, size: Optional[int] = None, seed: int = 0, isolated_fraction: float = 0.0):
        if not 0.0 <= float(isolated_fraction) < 1.0:
            raise InputError(f"isolated_fraction must be in [0, 1), got {isolated_fraction}")
        self.size, self.seed, self.isolated_fraction = size, int(seed), float(isolated_fraction)
        self.description = "toyworld" + (f"+isolated:{self.isolated_fraction:g}" if self.isolated_fraction else "")

    def _isolated(self, n: int, seed: int) -> torch.Tensor:
        from visioncircuits.toyworld import PRIMITIVES
        from visioncircuits.toyworld.probes import probe_set

        per = max(1, math.ceil(n / len(PRIMITIVES)))
        size: dict[str, Any] = {"size": self.size} if self.size else {}
        ps = probe_set("primitive", per_primitive=per, seed=seed, **size)
        order = torch.randperm(len(ps.images), generator=torch.Generator().manual_seed(seed))[:n]
        return ps.images[order]

    def batches(self, batch_size: int, start: int = 0) -> Iterator[torch.Tensor]:
        from visioncircuits.toyworld import generate

        i = 0
        n_iso = int(round(batch_size * self.isolated_fraction))
        while True:
            kwargs: dict[str, Any] = {"size": self.size} if self.size else {}
            seed = self.seed * 1_000_003 + start * 7919 + i
            images = generate(batch_size - n_iso, seed=seed, **kwargs).images
            if n_iso:
                images = torch.cat([images, self._isolated(n_iso, self.ISOLATED_SEED_OFFSET + seed)])
            yield images
            i += 1


class TensorSource:
    """Images already in memory, cycled in random order (tests and small experiments)."""

    def __init__(self, images: torch.Tensor, seed: int = 0):
        self.images, self.seed = images, int(seed)
        self.description = f"tensor:{tuple(images.shape)}"

    def batches(self, batch_size: int, start: int = 0) -> Iterator[torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + start)
        while True:
            perm = torch.randperm(len(self.images), generator=gen)
            bs = min(batch_size, len(perm))
            for i in range(0, len(perm) - bs + 1, bs):
                yield self.images[perm[i:i + bs]]


class ActivationStream:
    """Shuffled minibatches of per-position activation samples of ``layer``.

    ``positions``: keep at most this many random positions per image (None = all), which
    decorrelates samples when the layer is large. Up to ``buffer`` samples (at least two
    minibatches, at most sixteen) are mixed before any is yielded.
    """

    def __init__(self, model, layer: str, source, image_batch: int = 32, positions: Optional[int] = None,
                 buffer: int = 65536, seed: int = 0, device: Optional[torch.device] = None):
        model.resolve_layer(layer)
        self.model, self.layer, self.source = model, layer, source
        self.image_batch, self.positions, self.buffer = int(image_batch), positions, int(buffer)
        self.seed = int(seed)
        self.device = device or model.device

    def _samples(self, start: int) -> Iterator[torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed + 31 * start + 1)
        for images in self.source.batches(self.image_batch, start=start):
            acts = self.model.run_with_cache(images.to(self.model.device), [self.layer])[self.layer]
            if acts.dim() == 4 and self.positions:
                n, c, h, w = acts.shape
                if self.positions < h * w:
                    keep = torch.rand(n, h * w, generator=gen).argsort(dim=1)[:, : self.positions].to(acts.device)
                    flat = acts.flatten(2).transpose(1, 2)  # (N, HW, C)
                    yield flat.gather(1, keep[..., None].expand(-1, -1, c)).reshape(-1, c).to(self.device)
                    continue
            yield flatten_positions(acts).to(self.device)

    def batches(self, batch_size: int, start: int = 0) -> Iterator[torch.Tensor]:
        """Yield (batch_size, C) float samples forever, shuffled within blocks of up to ``buffer`` samples.

        Step-indexed: block ``b`` is drawn from source images seeded by ``b`` alone and shuffled
        by its own seed, so the batches from step ``start`` on are exactly those an uninterrupted
        run sees from that step; a run killed and resumed from a checkpoint trains on the same data.
        """
        per_block = max(min(self.buffer, 16 * batch_size), 2 * batch_size) // batch_size
        block, skip = divmod(int(start), per_block)
        while True:
            pool = self._block(block, per_block * batch_size)
            order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(self.seed * 97 + block))
            pool = pool[order.to(pool.device)]
            for i in range(skip, per_block):
                yield pool[i * batch_size:(i + 1) * batch_size]
            block, skip = block + 1, 0

    def _block(self, block: int, n: int) -> torch.Tensor:
        """``n`` samples from the source images of block ``block`` (a fresh, seeded draw)."""
        got, total = [], 0
        for chunk in self._samples(block):
            got.append(chunk)
            total += len(chunk)
            if total >= n:
                break
        return torch.cat(got)[:n]

    def sample(self, n: int, start: int = 10_000_019) -> torch.Tensor:
        """``n`` samples in one tensor (for initialisation and evaluation), from a separate seed."""
        got, total = [], 0
        for chunk in self._samples(start):
            got.append(chunk)
            total += len(chunk)
            if total >= n:
                break
        return torch.cat(got)[:n]


class SampleStream:
    """A fixed tensor of (M, C) samples as a stream (benchmarks, synthetic data, tests):
    shuffled passes over the rows; ``sample(n)`` draws from a separate permutation."""

    def __init__(self, samples: torch.Tensor, seed: int = 0):
        if samples.dim() != 2 or len(samples) == 0:
            raise InputError(f"samples must be a non-empty (M, C) tensor, got {tuple(samples.shape)}")
        self.samples, self.seed = samples, int(seed)

    def batches(self, batch_size: int, start: int = 0) -> Iterator[torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + start)
        bs = min(batch_size, len(self.samples))
        while True:
            perm = torch.randperm(len(self.samples), generator=gen).to(self.samples.device)
            for i in range(0, len(perm) - bs + 1, bs):
                yield self.samples[perm[i:i + bs]]

    def sample(self, n: int, start: int = 0) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.seed * 7 + 12345)
        return self.samples[torch.randperm(len(self.samples), generator=gen)[:n].to(self.samples.device)]
