"""Layer similarity measures behind one name: ``similarity(x, y, "linear_cka")``.

Besides the CKA and CCA families (own modules) this holds orthogonal Procrustes (Ding et al.
2021) and mutual k-nearest neighbours (Huh et al. 2024), so a report can compare measures
that disagree in known ways (CCA ignores scale of directions, k-NN only local structure).
"""
from __future__ import annotations

from typing import Callable

import torch

from visioncircuits.errors import InputError, unknown
from visioncircuits.universality.cca import mean_squared_cca, pwcca, svcca
from visioncircuits.universality.cka import linear_cka, rbf_cka
from visioncircuits.universality.features import ArrayLike, as_features, centered_unit, check_pair


def _reduce(x: torch.Tensor) -> torch.Tensor:
    """An (n, <=n) matrix with the same inner products between columns' projections: X = U S V^T -> U S."""
    if x.shape[1] <= x.shape[0]:
        return x
    u, s, _ = torch.linalg.svd(x, full_matrices=False)
    return u * s


def procrustes_similarity(x: ArrayLike, y: ArrayLike) -> float:
    """Nuclear norm of ``X^T Y`` for centred, unit-Frobenius X and Y: 1 when one is a rotation
    of the other. The orthogonal Procrustes distance is ``2 - 2 * similarity``."""
    xt, yt = as_features(x, "X"), as_features(y, "Y")
    check_pair(xt, yt)
    xt, yt = _reduce(centered_unit(xt, "X")), _reduce(centered_unit(yt, "Y"))
    return float(torch.linalg.svdvals(xt.T @ yt).sum().clamp(0, 1))


def procrustes_distance(x: ArrayLike, y: ArrayLike) -> float:
    """Orthogonal Procrustes distance ``min_Q ||X - Y Q||_F^2`` on normalised representations (in [0, 2])."""
    return 2.0 - 2.0 * procrustes_similarity(x, y)


def _knn(x: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cdist(x, x)
    d.fill_diagonal_(float("inf"))
    return torch.topk(d, k, dim=1, largest=False).indices


def mutual_knn(x: ArrayLike, y: ArrayLike, k: int = 10) -> float:
    """Mean fraction of each example's k nearest neighbours shared by the two representations."""
    xt, yt = as_features(x, "X"), as_features(y, "Y")
    check_pair(xt, yt)
    n = xt.shape[0]
    if not 1 <= k < n:
        raise InputError(f"mutual k-NN needs 1 <= k < n_examples, got k={k} with n={n}")
    xt, yt = centered_unit(xt, "X"), centered_unit(yt, "Y")
    nx, ny = _knn(xt, k), _knn(yt, k)
    hits = torch.zeros(n, n, dtype=torch.bool, device=xt.device)
    hits.scatter_(1, nx, True)
    shared = hits.gather(1, ny).sum(dim=1)
    return float(shared.double().mean() / k)


METRICS: dict[str, Callable[..., float]] = {
    "linear_cka": lambda x, y: linear_cka(x, y),
    "debiased_cka": lambda x, y: linear_cka(x, y, debiased=True),
    "rbf_cka": lambda x, y: rbf_cka(x, y, threshold=0.5),
    "mean_squared_cca": mean_squared_cca,
    "svcca": svcca,
    "pwcca": pwcca,
    "procrustes": procrustes_similarity,
    "mutual_knn": mutual_knn,
}


def similarity(x: ArrayLike, y: ArrayLike, metric: str = "linear_cka") -> float:
    """Similarity of two representations of the same examples under ``metric`` (see METRICS)."""
    if metric not in METRICS:
        raise unknown("similarity metric", metric, METRICS)
    return METRICS[metric](x, y)
