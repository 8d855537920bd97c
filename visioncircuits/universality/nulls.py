"""Null baselines for unit matches: how strong would a match be if nothing were shared?

Two nulls, both run through the *same* matching procedure as the real data, so selection
effects (Hungarian picks the best pairs out of C_a x C_b) are in the null too:

- random weights: model B with untrained weights (``load_model(name, weights="random")``);
  tells how much of a match the architecture and image statistics alone explain;
- permuted images: B's activations of a different image, at the same position, within each
  batch; keeps every unit's marginal statistics and spatial bias, destroys correspondence.

A match's p-value is ``(1 + #null >= r) / (1 + #null)``; Benjamini-Hochberg q-values control
the false discovery rate over all matches.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from visioncircuits.errors import InputError
from visioncircuits.universality.matching import match_units


def permute_images(t: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``t`` with its image (first) axis permuted by a random single-cycle derangement, so no
    image is paired with itself."""
    n = t.shape[0]
    if n < 2:
        raise InputError("permuting images needs batches of at least 2 images")
    order = torch.randperm(n, generator=generator)
    perm = torch.empty(n, dtype=torch.long)
    perm[order] = order.roll(-1)
    return t[perm.to(t.device)]


def null_strengths(null_corrs: Sequence[np.ndarray], method: str = "hungarian") -> np.ndarray:
    """Pooled match strengths obtained by matching each null correlation matrix."""
    if not null_corrs:
        raise InputError("no null correlation matrices given")
    return np.concatenate([[m.r for m in match_units(c, method)] for c in null_corrs])


@dataclass
class Significance:
    """Per-match statistics against a null distribution of match strengths."""

    p: np.ndarray
    q: np.ndarray
    z: np.ndarray
    significant: np.ndarray
    null_mean: float
    null_std: float
    null_n: int


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """False-discovery-rate adjusted p-values (q-values), monotone, capped at 1."""
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(ranked, 1.0)
    return q


def significance(strengths: Sequence[float], null: Sequence[float], alpha: float = 0.05) -> Significance:
    """p (one-sided, permutation style), z and BH q for each strength; significant if q < alpha."""
    s = np.asarray(strengths, dtype=np.float64)
    nul = np.sort(np.asarray(null, dtype=np.float64))
    if nul.size == 0:
        raise InputError("the null distribution is empty")
    if not (np.isfinite(s).all() and np.isfinite(nul).all()):
        raise InputError("match strengths and null values must be finite")
    ge = nul.size - np.searchsorted(nul, s, side="left")
    p = (1.0 + ge) / (1.0 + nul.size)
    mean, std = float(nul.mean()), float(nul.std())
    z = (s - mean) / std if std > 0 else np.where(s > mean, np.inf, 0.0)
    z = np.nan_to_num(z, posinf=1e9)  # a degenerate null: any stronger match is "infinitely" far
    q = benjamini_hochberg(p)
    return Significance(p=p, q=q, z=z, significant=q < alpha, null_mean=mean, null_std=std, null_n=int(nul.size))
