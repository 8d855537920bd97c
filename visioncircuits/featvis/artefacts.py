"""How much of a rendering is stride checkerboard: spectral peaks at the stride frequencies.

Why this measure: a strided conv's input gradient repeats with the conv's stride, so renders
of strided networks pick up periodic patterns at f = k / s cycles per pixel (k = 1.., s the
total stride of some layer: 2, 4, ..., 32), i.e. sharp peaks of the 2-D power spectrum on the
lattice of bins (a N / s, b N / s). Natural photos have a smooth, roughly 1/f^2 spectrum
there. So for each lattice bin we compare its power with the mean power of its 8 neighbouring
bins; ``peak ratio`` = sum of lattice powers / sum of their neighbourhood means. A smooth
spectrum gives about 1 (a little below at low frequencies, where 1/f^2 is convex); a
checkerboard gives a ratio in the hundreds. Compare a render's ratio with the same ratio on
natural photos of the same size (``relative``): 1 means "as periodic as photos".

Per stride ``s``, only the bins whose period is exactly ``s`` are used (the lattice of ``s``
minus that of ``s / 2``), so the stride-2 number is the pure 2-pixel checkerboard.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import torch

from visioncircuits.errors import InputError

DEFAULT_STRIDES = (2, 4, 8, 16, 32)


def power_spectrum(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) images -> (N, H, W) power, summed over channels, per-image-channel mean removed."""
    if images.dim() == 3:
        images = images[None]
    if images.dim() != 4:
        raise InputError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    x = images.double()
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    return torch.fft.fft2(x).abs().pow(2).sum(1)


def _lattice_mask(h: int, w: int, stride: int, device) -> torch.Tensor:
    """Bins (ky, kx) whose frequencies are multiples of 1/stride on both axes (nearest bin), DC excluded."""
    mask = torch.zeros(h, w, dtype=torch.bool, device=device)
    ys = sorted({round(a * h / stride) % h for a in range(stride)})
    xs = sorted({round(b * w / stride) % w for b in range(stride)})
    mask[torch.tensor(ys, device=device)[:, None], torch.tensor(xs, device=device)[None, :]] = True
    mask[0, 0] = False
    return mask


def _neighbour_mean(power: torch.Tensor) -> torch.Tensor:
    """Mean power of the 8 neighbours of every bin (circular, as the spectrum is periodic)."""
    total = torch.zeros_like(power)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                total = total + torch.roll(power, shifts=(dy, dx), dims=(-2, -1))
    return total / 8.0


def stride_peak_ratio(images: torch.Tensor, strides: Sequence[int] = DEFAULT_STRIDES) -> dict:
    """Peak ratio (see module docstring) per stride and over all stride bins, pooled over the images.

    Returns ``{"all": r, "2": r2, "4": r4, ...}``; strides that do not fit the image
    (stride > side / 2) are skipped. Bins below 1e-9 of the image's total power count as
    empty, so a perfectly smooth image scores about 1, and a pure checkerboard about 1e9.
    """
    return stride_peak_ratio_batches([images], strides)


def stride_peak_ratio_batches(batches: Iterable[torch.Tensor], strides: Sequence[int] = DEFAULT_STRIDES) -> dict:
    """:func:`stride_peak_ratio` pooled over a stream of image batches (e.g. a photo folder)."""
    num: dict = {}
    den: dict = {}
    total = 0.0
    for images in batches:
        power = power_spectrum(images)
        total += float(power.sum())
        _, h, w = power.shape
        neigh = _neighbour_mean(power)
        union = torch.zeros(h, w, dtype=torch.bool, device=power.device)
        for s in sorted({int(s) for s in strides}):
            if s < 2 or 2 * s > min(h, w):
                continue
            own = _lattice_mask(h, w, s, power.device)
            if s % 2 == 0:
                own = own & ~_lattice_mask(h, w, s // 2, power.device)
            union |= own
            num[str(s)] = num.get(str(s), 0.0) + float(power[:, own].sum())
            den[str(s)] = den.get(str(s), 0.0) + float(neigh[:, own].sum())
        if not union.any():
            raise InputError(f"no stride in {list(strides)} fits an image of {h}x{w} (stride <= side / 2)")
        num["all"] = num.get("all", 0.0) + float(power[:, union].sum())
        den["all"] = den.get("all", 0.0) + float(neigh[:, union].sum())
    if not num:
        raise InputError("no images to measure")
    eps = 1e-9 * total + 1e-30  # numerical floor: bins this far below the image's power count as 0
    return {k: (num[k] + eps) / (den[k] + eps) for k in num}


def relative_to(measure: dict, reference: dict) -> dict:
    """Element-wise ``measure / reference`` for the keys both have (1 = as periodic as the reference)."""
    return {k: measure[k] / reference[k] for k in measure if k in reference and reference[k] > 0}
