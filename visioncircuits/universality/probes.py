"""Probe sets: the images every compared model sees, as a replayable stream of batches.

A probe set can be streamed several times (activations, then dataset examples) and can
return any of its images by index for the report, without holding a folder in memory.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator, Optional, Sequence

import torch

from visioncircuits.data import ImageFolder, load_image
from visioncircuits.errors import InputError

log = logging.getLogger(__name__)


class ProbeSet:
    """Base: ``batches(bs)`` yields (indices, images in [0, 1]); ``images(idx)`` fetches some."""

    name: str = "probes"
    size: int = 64

    def __len__(self) -> int:
        raise NotImplementedError

    def batches(self, batch_size: int) -> Iterator[tuple[list[int], torch.Tensor]]:
        raise NotImplementedError

    def images(self, indices: Sequence[int]) -> torch.Tensor:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{len(self)} {self.name} images at {self.size}px"

    def n_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)


class TensorProbes(ProbeSet):
    """Probe images already in memory, (N, 3, H, W) in [0, 1] (toy world, tests)."""

    def __init__(self, images: torch.Tensor, name: str = "tensor"):
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
            raise InputError(f"probe images must be a (N, 3, H, W) tensor, got {getattr(images, 'shape', type(images))}")
        if images.shape[0] == 0:
            raise InputError("the probe set is empty")
        self._images = images.float()
        self.name = name
        self.size = int(images.shape[-1])

    def __len__(self) -> int:
        return int(self._images.shape[0])

    def batches(self, batch_size: int) -> Iterator[tuple[list[int], torch.Tensor]]:
        for i in range(0, len(self), batch_size):
            idx = list(range(i, min(i + batch_size, len(self))))
            yield idx, self._images[idx[0]: idx[-1] + 1]

    def images(self, indices: Sequence[int]) -> torch.Tensor:
        return self._images[list(indices)]


class FolderProbes(ProbeSet):
    """An image folder read at ``size`` px (short side resized, centre crop). Unreadable files
    are skipped (logged, in ``skipped``); indices always refer to ``paths``, so they stay
    stable across passes."""

    def __init__(self, folder: str | Path, size: int, limit: Optional[int] = None):
        if size < 1:
            raise InputError(f"probe image size must be positive, got {size}")
        folder_set = ImageFolder(folder, size, limit=limit)
        self.folder = Path(folder)
        self.size = int(size)
        self.name = self.folder.name
        self.paths: list[Path] = list(folder_set.paths)
        self.skipped: list[str] = []

    def __len__(self) -> int:
        return len(self.paths)

    def _read(self, i: int) -> Optional[torch.Tensor]:
        try:
            return load_image(self.paths[i], self.size)
        except Exception as e:  # PIL raises many types for broken files
            if str(self.paths[i]) not in self.skipped:
                log.warning("skipping unreadable probe image %s: %s", self.paths[i], e)
                self.skipped.append(str(self.paths[i]))
            return None

    def batches(self, batch_size: int) -> Iterator[tuple[list[int], torch.Tensor]]:
        idx: list[int] = []
        imgs: list[torch.Tensor] = []
        self._yielded = 0
        for i in range(len(self.paths)):
            im = self._read(i)
            if im is None:
                continue
            idx.append(i)
            imgs.append(im)
            if len(imgs) == batch_size:
                self._yielded += len(imgs)
                yield idx, torch.stack(imgs)
                idx, imgs = [], []
        if imgs:
            self._yielded += len(imgs)
            yield idx, torch.stack(imgs)
        if not self._yielded:
            raise InputError(f"no readable images in {self.folder}")

    def images(self, indices: Sequence[int]) -> torch.Tensor:
        return torch.stack([load_image(self.paths[i], self.size) for i in indices])

    def label(self, i: int) -> str:
        return self.paths[i].name
