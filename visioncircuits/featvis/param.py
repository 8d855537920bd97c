"""Image parameterisations: what the optimiser actually changes when it "draws" an image.

Feature visualisation quality depends mostly on this choice (Olah et al. 2017, Distill
"Feature Visualization"): optimising raw pixels gives high-frequency noise, a Fourier basis
scaled by 1/f with decorrelated colour gives natural-looking images, and MACO (Fel et al.
2023) fixes the magnitude spectrum to that of natural images and optimises only the phase.

Initial noise: ``sd=0.1`` (Lucid uses 0.01). The image still starts near grey (pixel std
~0.02), but with 0.01 ReLU units that are exactly 0 on a grey image get no gradient and never
move (13 of the 64 channels of CIFAR ResNet-20 ``layer3.2`` in our measurement).

Every parameterisation is a small ``nn.Module`` whose ``forward()`` returns the batch of
images, (N, 3, H, W) in [0, 1]. Initial values are drawn per image from a CPU generator:
with ``seeds=`` (what the renderer passes: one seed per image from its identity, see
:mod:`featvis.seeding`) image ``i`` starts from ``seeds[i]`` whatever batch it is in;
without, from ``(seed, first_index + i)``. Either way it starts the same on any device.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn

from visioncircuits.errors import InputError

# Lucid's square root of the ImageNet colour covariance (columns: luminance, two chroma axes).
IMAGENET_COLOUR_SQRT = torch.tensor(
    [[0.26, 0.09, 0.02],
     [0.27, 0.00, -0.05],
     [0.27, -0.09, 0.03]]
)
PARAMS = ("fft", "pixel", "maco")


def normalised_colour_matrix(sqrt_cov: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Scale a colour-covariance square root so its largest column has unit norm (Lucid's convention)."""
    m = IMAGENET_COLOUR_SQRT if sqrt_cov is None else torch.as_tensor(sqrt_cov, dtype=torch.float32)
    if m.shape != (3, 3):
        raise InputError(f"colour matrix must be 3x3, got {tuple(m.shape)}")
    return m / m.norm(dim=0).max()


def decorrelate_colour(t: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Map decorrelated colour coordinates to RGB: ``rgb[n, i] = sum_j M[i, j] t[n, j]``."""
    return torch.einsum("ij,njhw->nihw", matrix.to(t.device, t.dtype), t)


def rfft2d_freqs(h: int, w: int) -> torch.Tensor:
    """Spatial frequency magnitude of every rfft2 bin, shape (h, w // 2 + 1)."""
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    return torch.sqrt(fx * fx + fy * fy)


def one_over_f(h: int, w: int, decay_power: float = 1.0) -> torch.Tensor:
    """The 1/f^decay amplitude spectrum (DC clamped at 1/max(h, w)), shape (h, w // 2 + 1)."""
    return 1.0 / rfft2d_freqs(h, w).clamp(min=1.0 / max(h, w)) ** decay_power


def init_seeds(n: int, seed: int = 0, first_index: int = 0, seeds: Optional[Sequence[int]] = None) -> list:
    """One generator seed per image: ``seeds`` if given (checked to be ``n``), else ``(seed, first_index + i)``."""
    if seeds is not None:
        seeds = [int(s) for s in seeds]
        if len(seeds) != n:
            raise InputError(f"need one seed per image: {len(seeds)} seeds for {n} images")
        return seeds
    return [int(seed) * 1_000_003 + first_index + i for i in range(n)]


def _seeded_randn(shape: tuple, seeds: Sequence[int]) -> torch.Tensor:
    """(n, *shape) normal noise; image i from its own generator, so it is batch-split independent."""
    return torch.stack([torch.randn(shape, generator=torch.Generator(device="cpu").manual_seed(s)) for s in seeds])


class ImageParam(nn.Module):
    """Base class: ``forward()`` -> (N, 3, H, W) in [0, 1]; ``default_lr`` suits the parameterisation."""

    default_lr = 0.05

    def __init__(self, n: int, size: int):
        super().__init__()
        if n < 1 or size < 1:
            raise InputError(f"need at least one image of at least one pixel, got n={n}, size={size}")
        self.n, self.size = int(n), int(size)


class PixelParam(ImageParam):
    """Raw pixels (in decorrelated colour space), squashed into [0, 1] by a sigmoid."""

    colour: torch.Tensor  # buffer

    def __init__(self, n: int, size: int, *, seed: int = 0, first_index: int = 0, sd: float = 0.1,
                 decorrelate: bool = True, colour: Optional[torch.Tensor] = None,
                 seeds: Optional[Sequence[int]] = None):
        super().__init__(n, size)
        self.pixels = nn.Parameter(_seeded_randn((3, size, size), init_seeds(n, seed, first_index, seeds)) * sd)
        self.decorrelate = decorrelate
        self.register_buffer("colour", normalised_colour_matrix(colour), persistent=False)

    def forward(self) -> torch.Tensor:
        t = decorrelate_colour(self.pixels, self.colour) if self.decorrelate else self.pixels
        return torch.sigmoid(t)


class FourierParam(ImageParam):
    """Lucid's FFT image: spectrum scaled by 1/f, irfft2 (ortho), decorrelated colour, sigmoid."""

    scale: torch.Tensor  # buffers
    colour: torch.Tensor

    MAGIC = 4.0  # Lucid's constant: lower saturation at the start

    def __init__(self, n: int, size: int, *, seed: int = 0, first_index: int = 0, sd: float = 0.1,
                 decay_power: float = 1.0, decorrelate: bool = True, colour: Optional[torch.Tensor] = None,
                 seeds: Optional[Sequence[int]] = None):
        super().__init__(n, size)
        h = w = size
        self.spectrum = nn.Parameter(
            _seeded_randn((3, h, w // 2 + 1, 2), init_seeds(n, seed, first_index, seeds)) * sd)
        self.register_buffer("scale", one_over_f(h, w, decay_power)[None, None, :, :], persistent=False)
        self.register_buffer("colour", normalised_colour_matrix(colour), persistent=False)
        self.decorrelate = decorrelate

    def forward(self) -> torch.Tensor:
        spec = torch.view_as_complex(self.spectrum) * self.scale
        t = torch.fft.irfftn(spec, s=(self.size, self.size), norm="ortho") / self.MAGIC
        if self.decorrelate:
            t = decorrelate_colour(t, self.colour)
        return torch.sigmoid(t)


class MacoParam(ImageParam):
    """MACO (Fel et al. 2023): a fixed magnitude spectrum, only the phase is optimised.

    The image is ``irfft2(magnitude * exp(i * phase))``, standardised per image, mapped from
    decorrelated colour coordinates to RGB (as the FFT image; independent phases per RGB
    channel would give rainbow noise) and squashed by a sigmoid. ``magnitude`` is
    (3, H, W // 2 + 1) in those colour coordinates, e.g. from
    :func:`visioncircuits.featvis.stats.magnitude_spectrum`; 1/f when None.
    """

    colour: torch.Tensor  # buffers
    magnitude: torch.Tensor

    default_lr = 0.25

    def __init__(self, n: int, size: int, *, seed: int = 0, first_index: int = 0,
                 magnitude: Optional[torch.Tensor] = None, contrast: float = 1.5, decorrelate: bool = True,
                 colour: Optional[torch.Tensor] = None, seeds: Optional[Sequence[int]] = None):
        super().__init__(n, size)
        self.decorrelate = decorrelate
        self.register_buffer("colour", normalised_colour_matrix(colour), persistent=False)
        shape = (3, size, size // 2 + 1)
        if magnitude is None:
            magnitude = one_over_f(size, size).expand(shape).clone()
        magnitude = torch.as_tensor(magnitude, dtype=torch.float32)
        if tuple(magnitude.shape) != shape:
            raise InputError(
                f"MACO magnitude spectrum must have shape {shape} for size {size}, got {tuple(magnitude.shape)}"
            )
        self.register_buffer("magnitude", magnitude.clone(), persistent=False)
        g = torch.Generator(device="cpu")
        phases = []
        for s in init_seeds(n, seed, first_index, seeds):
            g.manual_seed(s)
            phases.append((torch.rand(shape, generator=g) * 2 - 1) * math.pi)
        self.phase = nn.Parameter(torch.stack(phases))
        self.contrast = float(contrast)

    def forward(self) -> torch.Tensor:
        spec = torch.polar(self.magnitude.expand_as(self.phase), self.phase)
        t = torch.fft.irfftn(spec, s=(self.size, self.size), norm="ortho")
        t = t - t.mean(dim=(1, 2, 3), keepdim=True)
        t = t / (t.std(dim=(1, 2, 3), keepdim=True) + 1e-6)
        if self.decorrelate:
            t = decorrelate_colour(t, self.colour)
        return torch.sigmoid(self.contrast * t)


def make_param(kind: str, n: int, size: int, *, seed: int = 0, first_index: int = 0,
               device=None, seeds: Optional[Sequence[int]] = None, **kwargs) -> ImageParam:
    """Build parameterisation ``kind`` ("fft", "pixel" or "maco") for ``n`` images of ``size`` px.

    ``seeds``: one initial-noise seed per image (the renderer's per-image identity seeds)."""
    classes = {"fft": FourierParam, "pixel": PixelParam, "maco": MacoParam}
    if kind not in classes:
        from visioncircuits.errors import unknown

        raise unknown("parameterisation", kind, list(classes))
    p = classes[kind](n, size, seed=seed, first_index=first_index, seeds=seeds, **kwargs)
    return p.to(device) if device is not None else p
