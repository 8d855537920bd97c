"""Transformation robustness tuned to a network's strides, against checkerboard artefacts.

Why: the input gradient of a stride-``s`` conv repeats every ``s`` pixels, so an image
optimised through a stack of stride-2 convs (MobileNets: total stride 32) grows
checkerboards at periods 2..32 (Odena, Dumoulin & Olah 2016, "Deconvolution and
checkerboard artifacts"; their optimisation-side remedy, and Lucid's "transformation
robustness", is to move the image relative to the stride grid at every step). Lucent's
standard chain jitters by at most 8 + 4 pixels, which does not cover every phase of a
stride-32 grid. This preset derives its settings from the target layer's total stride ``S``:

- jitter by up to ``S / 2`` pixels (``2 * S/2 + 1 >= S`` offsets: every phase of the
  coarsest grid, so no offset is favoured), padded by the same amount;
- random scale 0.9..1.1 in fine steps and rotation -10..10 degrees (as Lucent): non-integer
  shifts that move the finer grids by fractions of a pixel;
- a second jitter of up to ``S / 4`` pixels after them;
- a Gaussian blur with sigma drawn from 0..``max_sigma`` (0.5 px by default) per image, which
  damps the gradient at the 2-pixel period, the finest and most visible checkerboard.

Chosen automatically by ``render(..., transforms="stride_aware")`` from the deepest layer
the objectives read (see :func:`stride_aware_for`).
"""
from __future__ import annotations

import math
from typing import Iterable, Optional, Sequence

import torch
import torch.nn.functional as F

from visioncircuits.errors import InputError
from visioncircuits.featvis.transforms import Compose, Jitter, Pad, RandomRotate, RandomScale, Transform, _draw

SCALES = tuple(0.9 + 0.01 * i for i in range(21))
ANGLES = tuple(range(-10, 11))


class GaussianBlur(Transform):
    """Blur each image with a Gaussian whose sigma (pixels) is drawn per image from ``sigmas``."""

    def __init__(self, sigmas: Sequence[float], radius: int = 2):
        self.sigmas = [float(s) for s in sigmas]
        if not self.sigmas or min(self.sigmas) < 0:
            raise InputError(f"blur sigmas must be >= 0, got {sigmas}")
        self.radius = int(radius)

    def __call__(self, x, gen=None):
        n, c, h, w = x.shape
        sig = _draw(self.sigmas, n, gen, x.device).clamp(min=1e-3)
        r = torch.arange(-self.radius, self.radius + 1, device=x.device, dtype=x.dtype)
        k = torch.exp(-0.5 * (r[None, :] / sig[:, None].to(x.dtype)) ** 2)
        k = k / k.sum(1, keepdim=True)  # (n, 2r+1); sigma ~0 -> a delta
        k = k.repeat_interleave(c, 0)  # one kernel per (image, channel) group
        flat = F.pad(x.reshape(1, n * c, h, w), [self.radius] * 4, mode="reflect")
        flat = F.conv2d(flat, k[:, None, None, :], groups=n * c)
        flat = F.conv2d(flat, k[:, None, :, None], groups=n * c)
        return flat.reshape(n, c, h, w)

    def __repr__(self):
        return f"GaussianBlur({min(self.sigmas)}..{max(self.sigmas)})"


def stride_aware_transforms(stride: int, max_sigma: float = 0.5) -> Compose:
    """The preset for a target whose total stride is ``stride`` (see the module docstring)."""
    if stride < 1:
        raise InputError(f"stride must be >= 1, got {stride}")
    big = max(1, math.ceil(stride / 2))
    small = max(1, math.ceil(stride / 4))
    chain: list[Transform] = [Pad(big), Jitter(big), RandomScale(SCALES), RandomRotate(ANGLES), Jitter(small)]
    if max_sigma > 0:
        chain.append(GaussianBlur([max_sigma * i / 4 for i in range(5)]))
    return Compose(chain)


def total_stride(model, layers: Iterable[str], size: int) -> int:
    """Input pixels per activation position at the deepest of ``layers`` (the logits count as the last layer)."""
    info = model.layer_info(size)
    spatial = [i for i in info.values() if len(i.shape) == 3]
    if not spatial:
        return 1
    names = [layer for layer in layers if layer in info and len(info[layer].shape) == 3]
    deepest = max((info[layer] for layer in names), key=lambda i: i.order) if names else spatial[-1]
    return max(1, int(round(size / max(1, deepest.shape[1]))))


def stride_aware_for(model, layers: Iterable[str], size: int, max_sigma: float = 0.5,
                     cap: Optional[int] = None) -> Compose:
    """:func:`stride_aware_transforms` for the deepest of ``layers``; ``cap`` limits the stride used."""
    s = total_stride(model, layers, size)
    return stride_aware_transforms(min(s, cap) if cap else s, max_sigma=max_sigma)


def resolve_model_transforms(model, transforms, layers: Iterable[str], size: int) -> Transform:
    """Like ``transforms.resolve_transforms``, plus ``"stride_aware"``, which needs the model and target layers."""
    if isinstance(transforms, str) and transforms == "stride_aware":
        return stride_aware_for(model, layers, size)
    from visioncircuits.featvis.transforms import resolve_transforms

    return resolve_transforms(transforms, size)
