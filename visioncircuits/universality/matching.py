"""Unit-to-unit matching between two models (Li et al. 2016, "Convergent learning").

The correlation between every unit of A and every unit of B (z-scored over images and
positions) is accumulated batch by batch in float64, so any number of probe images fits in
memory; then units are paired one-to-one (Hungarian), each to its best partner
(semi-matching), or only where both choose each other (mutual best buddies).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from visioncircuits.errors import InputError, unknown

log = logging.getLogger(__name__)


def _samples(t: torch.Tensor) -> torch.Tensor:
    """(b, C, H, W) -> (b*H*W, C) rows of samples; (m, C) stays."""
    if t.dim() == 4:
        return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])
    if t.dim() == 2:
        return t
    raise InputError(f"expected (N, C, H, W) or (N, C) unit activations, got {tuple(t.shape)}")


class CrossCorrelation:
    """Streaming Pearson correlation between the units of A (C_a) and of B (C_b).

    Sums are kept in float64 around a shift (the first batch's means), which avoids the
    catastrophic cancellation of naive sum-of-squares on ReLU units with large means. A unit
    with no variance correlates 0 with everything and is listed in ``dead_a`` / ``dead_b``.
    """

    def __init__(self, n_a: int, n_b: int):
        self.n_a, self.n_b = n_a, n_b
        self.count = 0
        self._shift_a: Optional[torch.Tensor] = None
        self._shift_b: Optional[torch.Tensor] = None
        self.sum_a = self.sum_b = self.sq_a = self.sq_b = self.cross = None
        self.dead_a: list[int] = []
        self.dead_b: list[int] = []

    def update(self, a: torch.Tensor, b: torch.Tensor) -> None:
        sa, sb = _samples(a), _samples(b).to(a.device)
        # per-batch products in the input's precision (float32 activations: fast), sums in float64
        dtype = torch.promote_types(torch.promote_types(sa.dtype, sb.dtype), torch.float32)
        sa, sb = sa.to(dtype), sb.to(dtype)
        if sa.shape[1] != self.n_a or sb.shape[1] != self.n_b:
            raise InputError(f"expected {self.n_a} and {self.n_b} units, got {sa.shape[1]} and {sb.shape[1]}")
        if sa.shape[0] != sb.shape[0]:
            raise InputError(f"A and B must be sampled at the same images and positions ({sa.shape[0]} vs {sb.shape[0]} samples); use a common grid")
        if not (torch.isfinite(sa).all() and torch.isfinite(sb).all()):
            raise InputError("unit activations contain NaN or infinite values")
        if self._shift_a is None:
            self._shift_a, self._shift_b = sa.mean(0), sb.mean(0)
            dev = sa.device
            self.sum_a = torch.zeros(self.n_a, dtype=torch.float64, device=dev)
            self.sum_b = torch.zeros(self.n_b, dtype=torch.float64, device=dev)
            self.sq_a = torch.zeros(self.n_a, dtype=torch.float64, device=dev)
            self.sq_b = torch.zeros(self.n_b, dtype=torch.float64, device=dev)
            self.cross = torch.zeros(self.n_a, self.n_b, dtype=torch.float64, device=dev)
        sa, sb = sa - self._shift_a.to(dtype), sb - self._shift_b.to(dtype)
        self.count += sa.shape[0]
        self.sum_a += sa.sum(0, dtype=torch.float64)
        self.sum_b += sb.sum(0, dtype=torch.float64)
        self.sq_a += (sa * sa).sum(0, dtype=torch.float64)
        self.sq_b += (sb * sb).sum(0, dtype=torch.float64)
        self.cross += (sa.T @ sb).double()

    def result(self) -> np.ndarray:
        """The (C_a, C_b) correlation matrix: finite, in [-1, 1]."""
        if self.count < 2:
            raise InputError(f"unit correlation needs at least 2 samples, got {self.count}")
        n = self.count
        mean_a, mean_b = self.sum_a / n, self.sum_b / n
        var_a = (self.sq_a / n - mean_a**2).clamp_min(0)
        var_b = (self.sq_b / n - mean_b**2).clamp_min(0)
        cov = self.cross / n - mean_a[:, None] * mean_b[None, :]
        # variance below rounding level of the raw second moment = constant unit
        alive_a = var_a > 1e-12 * (self.sq_a / n).clamp_min(1e-30)
        alive_b = var_b > 1e-12 * (self.sq_b / n).clamp_min(1e-30)
        self.dead_a = torch.nonzero(~alive_a).flatten().tolist()
        self.dead_b = torch.nonzero(~alive_b).flatten().tolist()
        std_a = torch.where(alive_a, var_a.sqrt(), torch.ones_like(var_a))
        std_b = torch.where(alive_b, var_b.sqrt(), torch.ones_like(var_b))
        corr = (cov / std_a[:, None] / std_b[None, :]).clamp(-1, 1)
        corr[~alive_a] = 0
        corr[:, ~alive_b] = 0
        return corr.cpu().numpy()


@dataclass(frozen=True)
class Match:
    """Unit ``a`` of model A paired with unit ``b`` of model B at correlation ``r``."""

    a: int
    b: int
    r: float


def hungarian(corr: np.ndarray) -> list[Match]:
    """One-to-one pairs maximising the total correlation (scipy's linear_sum_assignment)."""
    rows, cols = linear_sum_assignment(corr, maximize=True)
    return _sorted([Match(int(i), int(j), float(corr[i, j])) for i, j in zip(rows, cols)])


def semi_matching(corr: np.ndarray) -> list[Match]:
    """Every unit of A with its most correlated unit of B (several may pick the same one)."""
    cols = corr.argmax(axis=1)
    return _sorted([Match(i, int(j), float(corr[i, j])) for i, j in enumerate(cols)])


def mutual_best_buddies(corr: np.ndarray) -> list[Match]:
    """Pairs that are each other's best match: a's best partner is b and b's is a."""
    best_b = corr.argmax(axis=1)
    best_a = corr.argmax(axis=0)
    return _sorted([Match(i, int(j), float(corr[i, j])) for i, j in enumerate(best_b) if best_a[j] == i])


def _sorted(matches: list[Match]) -> list[Match]:
    return sorted(matches, key=lambda m: (-m.r, m.a, m.b))


METHODS = {"hungarian": hungarian, "semi": semi_matching, "mutual": mutual_best_buddies}


def match_units(corr: np.ndarray, method: str = "hungarian") -> list[Match]:
    """Match with ``method`` (hungarian, semi, mutual), strongest first."""
    if method not in METHODS:
        raise unknown("matching method", method, METHODS)
    corr = np.asarray(corr, dtype=np.float64)
    if corr.ndim != 2 or corr.size == 0:
        raise InputError(f"correlation matrix must be a non-empty 2-D array, got shape {corr.shape}")
    if not np.isfinite(corr).all():
        raise InputError("correlation matrix contains NaN or infinite values")
    return METHODS[method](corr)
