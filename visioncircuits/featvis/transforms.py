"""Transformation robustness: random pad / jitter / scale / rotate, drawn per image.

Lucent draws one jitter/scale/angle for the whole batch, so a batch of 64 units sees the
same transform at each step; here every image gets its own draw. Jitter, scale and rotation
are affine maps, and :class:`Compose` multiplies consecutive ones into a single matrix per
image, so the whole chain costs one ``grid_sample``. Every random number comes from the
generator passed in, which makes a render deterministic: the renderer passes an
:class:`~visioncircuits.featvis.seeding.ImageRNG` (one stream per image, so an image's draws
do not depend on its batch); a plain ``torch.Generator`` (on the tensor's device) or None still
work for direct use and for your own transforms.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F

from visioncircuits.errors import InputError
from visioncircuits.featvis.seeding import ImageRNG, check_rng

Choices = Union[Sequence[float], tuple]


Gen = Union[ImageRNG, torch.Generator, None]


def _randint(low: int, high: int, shape: tuple, gen: Gen, device) -> torch.Tensor:
    """``torch.randint(low, high, shape)``; with an :class:`ImageRNG`, row i from image i's stream."""
    if isinstance(gen, ImageRNG):
        check_rng(gen, shape[0])
        k = 1
        for d in shape[1:]:
            k *= int(d)
        return gen.randint(low, high, k, device=device).reshape(shape)
    return torch.randint(low, high, shape, generator=gen, device=device)


def _draw(values: Sequence[float], n: int, gen: Gen, device) -> torch.Tensor:
    """n values drawn uniformly from the list ``values`` (Lucid style discrete choices)."""
    table = torch.as_tensor(list(values), dtype=torch.float32, device=device)
    idx = _randint(0, len(table), (n,), gen, device)
    return table[idx]


class Transform:
    """``t(images, gen) -> images``; images (N, C, H, W); ``gen`` an ``ImageRNG`` (one stream per
    image), a ``torch.Generator`` on their device, or None."""

    def __call__(self, x: torch.Tensor, gen: Gen = None) -> torch.Tensor:
        raise NotImplementedError


class Pad(Transform):
    """Pad every side by ``pad`` pixels with a constant (0.5 grey, as Lucid) or by reflection."""

    def __init__(self, pad: int, value: float = 0.5, mode: str = "constant"):
        if pad < 0:
            raise InputError(f"pad must be >= 0, got {pad}")
        self.pad, self.value, self.mode = int(pad), float(value), mode

    def __call__(self, x, gen=None):
        if self.pad == 0:
            return x
        if self.mode == "constant":
            return F.pad(x, [self.pad] * 4, mode="constant", value=self.value)
        return F.pad(x, [self.pad] * 4, mode=self.mode)

    def __repr__(self):
        return f"Pad({self.pad})"


class Affine(Transform):
    """An image-space affine map drawn per image: ``theta(n, size, gen, device)`` -> (n, 3, 3).

    ``theta`` maps output to input coordinates in ``affine_grid``'s normalised [-1, 1] space.
    """

    def theta(self, n: int, size: int, gen, device) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, x, gen=None):
        return apply_affine(x, self.theta(x.shape[0], x.shape[-1], gen, x.device))


class Jitter(Affine):
    """Shift each image by a whole number of pixels in [-d, d] along each axis (reflected border)."""

    def __init__(self, d: int):
        if d < 0:
            raise InputError(f"jitter must be >= 0 pixels, got {d}")
        self.d = int(d)

    def theta(self, n, size, gen, device):
        shifts = _randint(-self.d, self.d + 1, (n, 2), gen, device).float()
        m = torch.eye(3, device=device).repeat(n, 1, 1)
        m[:, :2, 2] = shifts * (2.0 / size)
        return m

    def __repr__(self):
        return f"Jitter({self.d})"


class RandomScale(Affine):
    """Zoom each image by a factor drawn from ``scales`` (content grows for factors > 1)."""

    def __init__(self, scales: Choices):
        self.scales = [float(s) for s in scales]
        if not self.scales or min(self.scales) <= 0:
            raise InputError(f"scales must be positive numbers, got {scales}")

    def theta(self, n, size, gen, device):
        s = _draw(self.scales, n, gen, device)
        m = torch.eye(3, device=device).repeat(n, 1, 1)
        m[:, 0, 0] = 1.0 / s
        m[:, 1, 1] = 1.0 / s
        return m

    def __repr__(self):
        return f"RandomScale({min(self.scales)}..{max(self.scales)})"


class RandomRotate(Affine):
    """Rotate each image by an angle in degrees drawn from ``angles``."""

    def __init__(self, angles: Choices):
        self.angles = [float(a) for a in angles]
        if not self.angles:
            raise InputError("angles must not be empty")

    def theta(self, n, size, gen, device):
        a = _draw(self.angles, n, gen, device) * (math.pi / 180.0)
        c, s = torch.cos(a), torch.sin(a)
        m = torch.eye(3, device=device).repeat(n, 1, 1)
        m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
        return m

    def __repr__(self):
        return f"RandomRotate({min(self.angles)}..{max(self.angles)})"


def apply_affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample each image with its own (3, 3) output->input matrix (bilinear, reflected border)."""
    grid = F.affine_grid(theta[:, :2, :].to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


class Compose(Transform):
    """Apply transforms in order; runs of affine ones are fused into one resampling per image."""

    def __init__(self, transforms: Sequence[Transform]):
        self.transforms = list(transforms)

    def __call__(self, x, gen=None):
        pending: Optional[torch.Tensor] = None
        for t in self.transforms:
            if isinstance(t, Affine):
                m = t.theta(x.shape[0], x.shape[-1], gen, x.device)
                # Output->input maps compose as theta_first @ theta_second.
                pending = m if pending is None else pending @ m
                continue
            if pending is not None:
                x, pending = apply_affine(x, pending), None
            x = t(x, gen)
        if pending is not None:
            x = apply_affine(x, pending)
        return x

    def __repr__(self):
        return f"Compose({self.transforms})"


def lucent_standard() -> Compose:
    """The same chain as Lucent's ``standard_transforms`` (pad 12, jitter 8, scale, rotate, jitter 4)."""
    return Compose([
        Pad(12), Jitter(8),
        RandomScale([1 + (i - 5) / 50.0 for i in range(11)]),
        RandomRotate(list(range(-10, 11)) + 5 * [0]),
        Jitter(4),
    ])


def default_transforms(size: int) -> Compose:
    """Lucent's standard chain with pad and jitter scaled to the image size (equal to it at 224 px)."""
    k = size / 224.0
    return Compose([
        Pad(max(1, round(12 * k))), Jitter(max(1, round(8 * k))),
        RandomScale([1 + (i - 5) / 50.0 for i in range(11)]),
        RandomRotate(list(range(-10, 11)) + 5 * [0]),
        Jitter(max(1, round(4 * k))),
    ])


def resolve_transforms(transforms, size: int) -> Transform:
    """``"default"`` -> :func:`default_transforms`; None/"none" -> identity; a list -> Compose."""
    if transforms is None or transforms == "none":
        return Compose([])
    if transforms == "default":
        return default_transforms(size)
    if transforms == "lucent":
        return lucent_standard()
    if isinstance(transforms, Transform):
        return transforms
    if isinstance(transforms, (list, tuple)):
        return Compose(transforms)
    if callable(transforms):
        fn = transforms

        class _Fn(Transform):
            def __call__(self, x, gen=None):
                return fn(x)

        return _Fn()
    raise InputError(f"transforms must be 'default', 'lucent', 'none', a list or a Transform, got {transforms!r}")
