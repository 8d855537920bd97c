"""Layer similarity measures: CKA (linear, RBF, debiased), the CCA family, Procrustes and mutual
k-NN, behind one name (``similarity(x, y, "linear_cka")``), and the shared input preamble.

Merged from: ``features``, ``cka``, ``cca``, ``similarity`` (their old module paths still import).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

import numpy as np
import torch

from visioncircuits.errors import InputError, unknown

# ------------------------------------------------------------ features
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


def feature_pair(
    x: ArrayLike, y: ArrayLike, min_examples: int = 2, centre: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """The preamble every measure shares: ``as_features`` both, ``check_pair``, and (``centre``)
    ``centered_unit`` both. Returns float64 (n, d) tensors."""
    xt, yt = as_features(x, "X", min_examples), as_features(y, "Y", min_examples)
    check_pair(xt, yt)
    if centre:
        xt, yt = centered_unit(xt, "X"), centered_unit(yt, "Y")
    return xt, yt


def centered_unit(x: torch.Tensor, name: str = "X") -> torch.Tensor:
    """Centre the columns and scale to unit Frobenius norm (all measures here are scale-free).

    A representation that is identical for every example has no similarity structure at
    all, so it is an error rather than a 0/0.
    """
    xc = x - x.mean(dim=0, keepdim=True)
    scale = xc.abs().max()
    magnitude = x.abs().max()
    if scale == 0 or scale <= 1e-12 * magnitude:  # rounding noise of a constant column
        raise InputError(
            f"{name} is constant across all {x.shape[0]} examples (zero variance); similarity is undefined"
        )
    xc = xc / scale  # first bring into a safe range, then normalise exactly
    norm = torch.linalg.norm(xc)
    return xc / norm


# ------------------------------------------------------------ cka
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

    Examples:
        >>> import torch
        >>> x = torch.randn(100, 20, dtype=torch.float64)
        >>> round(linear_cka(x, 3 * x @ torch.linalg.qr(torch.randn(20, 20, dtype=torch.float64))[0]), 6)
        1.0
    """
    xt, yt = feature_pair(x, y, 4 if debiased else 2)
    n = xt.shape[0]
    if not debiased and xt.shape[1] * yt.shape[1] < n * n:
        cross = torch.linalg.norm(yt.T @ xt) ** 2
        return float(cross / (torch.linalg.norm(xt.T @ xt) * torch.linalg.norm(yt.T @ yt)))
    return cka_from_grams(gram_linear(xt), gram_linear(yt), debiased)


def rbf_cka(x: ArrayLike, y: ArrayLike, threshold: float = 1.0, debiased: bool = False) -> float:
    """CKA with RBF kernels, bandwidth ``threshold`` x the median inter-example distance."""
    xt, yt = feature_pair(x, y, 4 if debiased else 2)
    return cka_from_grams(gram_rbf(xt, threshold), gram_rbf(yt, threshold), debiased)


# ------------------------------------------------------------ cca
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


def cca(
    x: ArrayLike,
    y: ArrayLike,
    center: bool = True,
    keep_x: float | int | None = None,
    keep_y: float | int | None = None,
) -> CCAResult:
    """Canonical correlations between ``x`` and ``y`` (n examples each).

    CCA with as many directions as examples is trivially perfect, so that is an error that
    suggests SVCCA or pooling instead.
    """
    xt, yt = feature_pair(x, y, 3, centre=False)
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


# ------------------------------------------------------------ similarity
def _reduce(x: torch.Tensor) -> torch.Tensor:
    """An (n, <=n) matrix with the same inner products between columns' projections: X = U S V^T -> U S."""
    if x.shape[1] <= x.shape[0]:
        return x
    u, s, _ = torch.linalg.svd(x, full_matrices=False)
    return u * s


def procrustes_similarity(x: ArrayLike, y: ArrayLike) -> float:
    """Nuclear norm of ``X^T Y`` for centred, unit-Frobenius X and Y: 1 when one is a rotation
    of the other. The orthogonal Procrustes distance is ``2 - 2 * similarity``."""
    xt, yt = feature_pair(x, y)
    xt, yt = _reduce(xt), _reduce(yt)
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
    xt, yt = feature_pair(x, y)
    n = xt.shape[0]
    if not 1 <= k < n:
        raise InputError(f"mutual k-NN needs 1 <= k < n_examples, got k={k} with n={n}")
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
