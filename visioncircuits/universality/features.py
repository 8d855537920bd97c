"""Turning activations into well-posed feature matrices for the similarity measures.

Every measure takes ``(n_examples, ...)`` arrays or tensors, and the known failure modes of
existing CKA/CCA packages (float32 overflow under scale mismatch, NaN from zero variance,
silent garbage from tiny batches) are all handled here, once: computation in float64,
features rescaled to unit Frobenius norm, and a clear :class:`InputError` where a value is
mathematically undefined.
"""
from __future__ import annotations

from typing import Union

import numpy as np
import torch

from visioncircuits.errors import InputError

ArrayLike = Union[np.ndarray, torch.Tensor]


def as_features(x: ArrayLike, name: str = "X", min_examples: int = 2) -> torch.Tensor:
    """``x`` as a float64 (n, d) tensor on its own device; extra dims are flattened.

    Raises a one-line :class:`InputError` for fewer than ``min_examples`` rows, no features,
    or non-finite values.
    """
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x))
    elif isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        raise InputError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}")
    if t.dim() < 2:
        raise InputError(f"{name} must have shape (n_examples, features...), got {tuple(t.shape)}")
    t = t.reshape(t.shape[0], -1).to(torch.float64)
    n, d = t.shape
    if n < min_examples:
        raise InputError(f"{name} has {n} examples; this measure needs at least {min_examples}")
    if d == 0:
        raise InputError(f"{name} has no features (shape {tuple(x.shape)})")
    if not torch.isfinite(t).all():
        raise InputError(f"{name} contains NaN or infinite values")
    return t


def check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    """Both representations must describe the same examples."""
    if x.shape[0] != y.shape[0]:
        raise InputError(f"X and Y must have the same number of examples (rows), got {x.shape[0]} and {y.shape[0]}")
    if x.device != y.device:
        raise InputError(f"X and Y are on different devices ({x.device}, {y.device})")


def centered_unit(x: torch.Tensor, name: str = "X") -> torch.Tensor:
    """Centre the columns and scale to unit Frobenius norm (all measures here are scale-free).

    A representation that is identical for every example has no similarity structure at
    all, so it is an error rather than a 0/0.
    """
    xc = x - x.mean(dim=0, keepdim=True)
    scale = xc.abs().max()
    magnitude = x.abs().max()
    if scale == 0 or scale <= 1e-12 * magnitude:  # rounding noise of a constant column
        raise InputError(f"{name} is constant across all {x.shape[0]} examples (zero variance); similarity is undefined")
    xc = xc / scale  # first bring into a safe range, then normalise exactly
    norm = torch.linalg.norm(xc)
    return xc / norm
