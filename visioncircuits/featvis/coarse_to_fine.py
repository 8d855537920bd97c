"""Coarse-to-fine: optimise a smaller image first, then continue on its periodic extension.

Why periodic (tiling) and not zooming: a channel objective is a spatial mean over a
translation-equivariant network, so its best image is roughly a texture at the unit's own
scale. Zooming a small render up doubles that scale (the pattern is then wrong for the
unit); tiling it keeps the scale, so the full-size image starts at nearly the objective the
small one reached, and steps on a 1/factor^2 image cost about 1/factor^2 of a full step.

For the FFT parameterisation the tiled image is built exactly in the frequency domain: an
image tiled ``f`` x ``f`` has only the frequency bins ``(f i, f j)``, equal to ``f`` times
the small image's (ortho norm), so the large parameter is the small spectrum scattered onto
those bins and rescaled by the two 1/f scales.
"""
from __future__ import annotations

import torch

from visioncircuits.errors import InputError
from visioncircuits.featvis.param import FourierParam, ImageParam, PixelParam

SUPPORTED = ("fft", "pixel")


def coarse_size(size: int, factor: int) -> int:
    """The side of the small image; ``size`` must be a multiple of ``factor``."""
    if factor < 2 or size % factor or size // factor < 8:
        raise InputError(f"coarse_to_fine needs an image size that is a multiple of {factor} (>= {8 * factor} px), "
                         f"got {size}")
    return size // factor


@torch.no_grad()
def tile_param(small: ImageParam, large: ImageParam, factor: int) -> None:
    """Set ``large`` (side ``factor`` x small's) to the ``factor`` x ``factor`` tiling of ``small``."""
    if large.size != small.size * factor or large.n != small.n:
        raise InputError(f"cannot tile a {small.size} px parameterisation into {large.size} px")
    if isinstance(small, FourierParam) and isinstance(large, FourierParam):
        s = small.size
        spec = torch.view_as_complex(small.spectrum) * small.scale  # (n, 3, s, s//2+1)
        big = torch.zeros(large.spectrum.shape[:-1], dtype=spec.dtype, device=spec.device)
        big[:, :, ::factor, ::factor][..., : s // 2 + 1] = spec * factor
        big = big / large.scale
        large.spectrum.copy_(torch.view_as_real(big))
    elif isinstance(small, PixelParam) and isinstance(large, PixelParam):
        large.pixels.copy_(small.pixels.repeat(1, 1, factor, factor))
    else:
        raise InputError(f"coarse_to_fine supports the {' and '.join(SUPPORTED)} parameterisations")
