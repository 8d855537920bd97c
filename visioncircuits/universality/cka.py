"""Centered kernel alignment (Kornblith et al. 2019): linear, RBF and debiased.

The formulas follow the authors' reference colab exactly (gram matrices, centering, the
U-statistic "unbiased" centering of Song et al. 2012 used for debiased CKA), so the tests can
check the published numbers to five digits; the inputs are first made safe by
:mod:`visioncircuits.universality.features` (float64, unit scale, clear errors).
"""
from __future__ import annotations

import torch

from visioncircuits.errors import InputError
from visioncircuits.universality.features import ArrayLike, as_features, centered_unit, check_pair


def gram_linear(x: torch.Tensor) -> torch.Tensor:
    """Linear kernel ``X X^T`` between examples."""
    return x @ x.T


def gram_rbf(x: torch.Tensor, threshold: float = 1.0) -> torch.Tensor:
    """RBF kernel with bandwidth ``threshold`` x the median distance between examples.

    As in Kornblith et al.: ``exp(-d^2 / (2 threshold^2 median(d^2)))``.
    """
    if threshold <= 0:
        raise InputError(f"RBF threshold must be positive, got {threshold}")
    dots = x @ x.T
    sq = torch.diagonal(dots)
    dist = (-2 * dots + sq[:, None] + sq[None, :]).clamp_min(0)
    # torch.median returns the lower of the two middle values; numpy averages them.
    flat = torch.sort(dist.flatten()).values
    m = flat.numel()
    med = flat[m // 2] if m % 2 else (flat[m // 2 - 1] + flat[m // 2]) / 2
    if med <= 0:
        raise InputError("RBF CKA is undefined: more than half of the pairwise distances are zero (duplicate examples)")
    return torch.exp(-dist / (2 * threshold**2 * med))


def center_gram(gram: torch.Tensor, unbiased: bool = False) -> torch.Tensor:
    """Double-centre a gram matrix; ``unbiased`` uses the U-centering of the unbiased HSIC.

    With ``unbiased``, ``<U(K), U(L)> / (n (n - 3))`` is the unbiased HSIC estimator, so it
    needs n >= 4.
    """
    n = gram.shape[0]
    g = gram.clone()
    if unbiased:
        if n < 4:
            raise InputError(f"debiased CKA needs at least 4 examples, got {n}")
        g.fill_diagonal_(0)
        means = g.sum(dim=0) / (n - 2)
        means = means - means.sum() / (2 * (n - 1))
        g = g - means[:, None] - means[None, :]
        g.fill_diagonal_(0)
    else:
        means = g.mean(dim=0)
        means = means - means.mean() / 2
        g = g - means[:, None] - means[None, :]
    return g


def cka_from_grams(gram_x: torch.Tensor, gram_y: torch.Tensor, debiased: bool = False) -> float:
    """CKA between two gram matrices of the same examples."""
    gx = center_gram(gram_x, debiased)
    gy = center_gram(gram_y, debiased)
    nx, ny = torch.linalg.norm(gx), torch.linalg.norm(gy)
    if nx == 0 or ny == 0:
        raise InputError("CKA is undefined: a centered gram matrix is zero (a representation without variance)")
    return float((gx.flatten() @ gy.flatten()) / (nx * ny))


def linear_cka(x: ArrayLike, y: ArrayLike, debiased: bool = False) -> float:
    """Linear CKA between representations ``x`` (n, ...) and ``y`` (n, ...) of the same n examples.

    Plain CKA is computed in feature space when that is smaller than n x n (same value).
    """
    xt, yt = as_features(x, "X", 4 if debiased else 2), as_features(y, "Y", 4 if debiased else 2)
    check_pair(xt, yt)
    xt, yt = centered_unit(xt, "X"), centered_unit(yt, "Y")
    n = xt.shape[0]
    if not debiased and xt.shape[1] * yt.shape[1] < n * n:
        cross = torch.linalg.norm(yt.T @ xt) ** 2
        return float(cross / (torch.linalg.norm(xt.T @ xt) * torch.linalg.norm(yt.T @ yt)))
    return cka_from_grams(gram_linear(xt), gram_linear(yt), debiased)


def rbf_cka(x: ArrayLike, y: ArrayLike, threshold: float = 1.0, debiased: bool = False) -> float:
    """CKA with RBF kernels, bandwidth ``threshold`` x the median inter-example distance."""
    xt, yt = as_features(x, "X", 4 if debiased else 2), as_features(y, "Y", 4 if debiased else 2)
    check_pair(xt, yt)
    xt, yt = centered_unit(xt, "X"), centered_unit(yt, "Y")
    return cka_from_grams(gram_rbf(xt, threshold), gram_rbf(yt, threshold), debiased)
