"""Canonical correlation measures: mean squared CCA, SVCCA (Raghu et al. 2017), PWCCA
(Morcos et al. 2018).

Canonical correlations are the singular values of ``Ux^T Uy`` for orthonormal bases of the
two column spaces. Bases come from an SVD with rank truncation rather than QR or a
covariance inverse, so duplicate or zero-variance units (dead ReLUs) drop out instead of
producing NaN or a singular-matrix crash.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from visioncircuits.errors import InputError
from visioncircuits.universality.features import ArrayLike, as_features, check_pair

RANK_TOL = 1e-10


@dataclass
class CCAResult:
    """Canonical correlations (descending) and the canonical variates of X in sample space."""

    rho: torch.Tensor
    variates_x: torch.Tensor
    rank_x: int
    rank_y: int


def _prepare(x: torch.Tensor, center: bool, name: str) -> torch.Tensor:
    if center:
        x = x - x.mean(dim=0, keepdim=True)
    scale = x.abs().max()
    if scale == 0:
        raise InputError(f"{name} is zero for every example (no variance); CCA is undefined")
    return x / scale


def _basis(x: torch.Tensor, keep: float | int | None, name: str) -> torch.Tensor:
    """Orthonormal basis of x's column space; ``keep``: a variance fraction (SVCCA) or a count."""
    u, s, _ = torch.linalg.svd(x, full_matrices=False)
    r = int((s > RANK_TOL * s[0]).sum()) if s.numel() and s[0] > 0 else 0
    if r == 0:
        raise InputError(f"{name} has no variance; CCA is undefined")
    if isinstance(keep, float):
        if not 0 < keep <= 1:
            raise InputError(f"SVCCA variance fraction must be in (0, 1], got {keep}")
        energy = torch.cumsum(s[:r] ** 2, 0) / (s[:r] ** 2).sum()
        r = min(r, int((energy < keep - 1e-12).sum()) + 1)
    elif isinstance(keep, int):
        if keep < 1:
            raise InputError(f"SVCCA must keep at least 1 direction, got {keep}")
        r = min(r, keep)
    return u[:, :r]


def cca(x: ArrayLike, y: ArrayLike, center: bool = True, keep_x: float | int | None = None, keep_y: float | int | None = None) -> CCAResult:
    """Canonical correlations between ``x`` and ``y`` (n examples each).

    CCA with as many directions as examples is trivially perfect, so that is an error that
    suggests SVCCA or pooling instead.
    """
    xt, yt = as_features(x, "X", 3), as_features(y, "Y", 3)
    check_pair(xt, yt)
    n = xt.shape[0]
    ux = _basis(_prepare(xt, center, "X"), keep_x, "X")
    uy = _basis(_prepare(yt, center, "Y"), keep_y, "Y")
    k = min(ux.shape[1], uy.shape[1])
    if max(ux.shape[1], uy.shape[1]) >= n - int(center):
        raise InputError(
            f"CCA needs more examples than directions (n={n}, ranks {ux.shape[1]} and {uy.shape[1]}): "
            "use more images, SVCCA with fewer kept directions, or spatial pooling"
        )
    a, s, _ = torch.linalg.svd(ux.T @ uy, full_matrices=False)
    return CCAResult(rho=s[:k].clamp(0, 1), variates_x=ux @ a[:, :k], rank_x=ux.shape[1], rank_y=uy.shape[1])


def mean_squared_cca(x: ArrayLike, y: ArrayLike, center: bool = True) -> float:
    """R^2_CCA: the mean of the squared canonical correlations (Kornblith et al. 2019, Table 1).

    ``center=False`` reproduces the authors' colab, which applies QR to the raw features.
    """
    res = cca(x, y, center=center)
    return float((res.rho**2).sum() / min(res.rank_x, res.rank_y))


def svcca(x: ArrayLike, y: ArrayLike, keep: float | int = 0.99) -> float:
    """SVCCA: keep the top singular directions of each (``keep`` variance fraction or count),
    then the mean canonical correlation."""
    res = cca(x, y, center=True, keep_x=keep, keep_y=keep)
    return float(res.rho.mean())


def pwcca(x: ArrayLike, y: ArrayLike) -> float:
    """Projection-weighted CCA: canonical correlations weighted by how much of X's units each
    canonical variate accounts for (Morcos et al. 2018). Not symmetric, as in the paper."""
    xt = as_features(x, "X", 3)
    res = cca(xt, y, center=True)
    xc = xt - xt.mean(dim=0, keepdim=True)
    xc = xc / xc.abs().max()
    weights = (res.variates_x.T @ xc).abs().sum(dim=1)
    total = weights.sum()
    if total == 0:
        raise InputError("PWCCA is undefined: X is orthogonal to all its canonical variates")
    return float((weights / total * res.rho).sum())
