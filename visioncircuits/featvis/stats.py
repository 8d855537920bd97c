"""Image statistics the parameterisations need, computed from any image folder.

Lucid hard-codes ImageNet's colour-covariance square root; a model trained on another
domain (CIFAR, a toy world, microscopy) looks more natural with its own. MACO needs the
mean magnitude spectrum of natural images at the rendering size.
"""
from __future__ import annotations

import os
from typing import Optional

import torch
from tqdm.auto import tqdm

from visioncircuits.data import ImageFolder


def colour_correlation_sqrt(folder: str | os.PathLike, *, size: int = 64, limit: Optional[int] = 500,
                            progress: bool = False) -> torch.Tensor:
    """The 3x3 square root ``U sqrt(S)`` of the RGB pixel covariance of the images in ``folder``.

    Columns are the principal colour axes, largest first, signed so each column sums to >= 0
    (the first is then luminance, as in Lucid's ImageNet matrix). Only relative scale matters:
    :func:`visioncircuits.featvis.param.normalised_colour_matrix` rescales it.
    """
    data = ImageFolder(folder, size, limit=limit)
    total = torch.zeros(3, dtype=torch.float64)
    outer = torch.zeros(3, 3, dtype=torch.float64)
    count = 0
    for _, imgs in tqdm(data.batches(64), desc="colour stats", disable=not progress, total=-(-len(data) // 64)):
        px = imgs.permute(0, 2, 3, 1).reshape(-1, 3).double()
        total += px.sum(0)
        outer += px.T @ px
        count += px.shape[0]
    mean = total / count
    cov = outer / count - torch.outer(mean, mean)
    evals, evecs = torch.linalg.eigh(cov)
    order = torch.argsort(evals, descending=True)
    sqrt = evecs[:, order] * evals[order].clamp(min=0).sqrt()
    signs = torch.where(sqrt.sum(0) < 0, -1.0, 1.0).to(sqrt.dtype)
    return (sqrt * signs).float()


def magnitude_spectrum(folder: str | os.PathLike, size: int, *, limit: Optional[int] = 500, decorrelated: bool = True,
                       colour: Optional[torch.Tensor] = None, progress: bool = False) -> torch.Tensor:
    """Mean |rfft2| (ortho) per colour channel of the images in ``folder`` at ``size`` px: (3, S, S//2+1).

    With ``decorrelated`` (the default, matching :class:`~visioncircuits.featvis.param.MacoParam`)
    the channels are the decorrelated colour coordinates of ``colour`` (ImageNet's by default).
    """
    from visioncircuits.featvis.param import normalised_colour_matrix

    inverse = torch.linalg.inv(normalised_colour_matrix(colour)) if decorrelated else torch.eye(3)
    data = ImageFolder(folder, size, limit=limit)
    acc = torch.zeros(3, size, size // 2 + 1, dtype=torch.float64)
    count = 0
    for _, imgs in tqdm(data.batches(64), desc="spectrum", disable=not progress, total=-(-len(data) // 64)):
        imgs = imgs - imgs.mean(dim=(2, 3), keepdim=True)
        imgs = torch.einsum("ij,njhw->nihw", inverse, imgs)
        acc += torch.fft.rfftn(imgs, dim=(2, 3), norm="ortho").abs().double().sum(0)
        count += imgs.shape[0]
    return (acc / count).float()
