"""Unit matching between two models, the null baselines that say whether a match means
anything, and minibatch CKA (the streaming layer comparison).

Merged from: ``matching``, ``nulls``, ``minibatch`` (their old module paths still import).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from visioncircuits.errors import InputError, unknown
from visioncircuits.universality.measures import ArrayLike, center_gram

log = logging.getLogger(__name__)


# ------------------------------------------------------------ matching
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
        # moment sums, allocated on the first update's device
        self.sum_a = self.sum_b = self.sq_a = self.sq_b = self.cross = torch.empty(0, dtype=torch.float64)
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
            raise InputError(
                f"A and B must be sampled at the same images and positions ({sa.shape[0]} vs {sb.shape[0]} samples); "
                "use a common grid"
            )
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
        assert self._shift_a is not None and self._shift_b is not None
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


# ------------------------------------------------------------ nulls
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


def significance(
    strengths: Sequence[float], null: Union[Sequence[float], np.ndarray], alpha: float = 0.05
) -> Significance:
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


# ------------------------------------------------------------ minibatch
MIN_BATCH = 4  # the unbiased HSIC divides by n - 3


def _ucentred_flat(x: torch.Tensor, scale: float) -> torch.Tensor:
    """U-centred linear gram of one batch, flattened, in float64.

    The (b, d) product runs in the input's precision (float32 activations: fast). ``scale``
    divides the features to keep the float range safe; it must be the same for every batch
    of a layer, since per-batch HSIC estimates are summed and HSIC is not scale-free.
    """
    x = x.reshape(x.shape[0], -1)
    x = x.to(torch.promote_types(x.dtype, torch.float32))
    x = (x - x.mean(dim=0, keepdim=True)) / scale
    return center_gram((x @ x.T).double(), unbiased=True).flatten()


class BatchGrams:
    """Turns each minibatch of a fixed list of layers into (layers, b*b) U-centred grams.

    Each layer's scale is fixed by the first batch (its largest centred value), so huge or
    tiny activations stay in float range and every batch is weighted alike.
    """

    def __init__(self) -> None:
        self.scales: list[float] | None = None

    def __call__(self, feats: Sequence[ArrayLike]) -> torch.Tensor:
        ts = []
        for t in feats:
            t = torch.from_numpy(t) if not isinstance(t, torch.Tensor) else t.detach()
            if t.dim() < 2 or not torch.isfinite(t).all():
                raise InputError(f"layer activations must be finite with shape (n, features...), got {tuple(t.shape)}")
            ts.append(t.reshape(t.shape[0], -1))
        if self.scales is None:
            self.scales = []
            for t in ts:
                c = t.to(torch.promote_types(t.dtype, torch.float32))
                m = float((c - c.mean(dim=0, keepdim=True)).abs().max()) if t.shape[0] > 1 else 0.0
                self.scales.append(m if m > 0 and np.isfinite(m) else max(float(t.abs().max()), 1.0))
        if len(ts) != len(self.scales):
            raise InputError(f"expected {len(self.scales)} layers per batch, got {len(ts)}")
        return torch.stack([_ucentred_flat(t, s) for t, s in zip(ts, self.scales)])


def batch_grams(feats: Sequence[ArrayLike]) -> torch.Tensor:
    """(layers, b*b) U-centred grams of a single batch (scales from this batch)."""
    return BatchGrams()(feats)


class MinibatchCKA:
    """Accumulates linear unbiased HSIC between every layer of X and every layer of Y.

    ``update(xs, ys)`` takes one minibatch: sequences (or dicts, in a fixed order) of
    ``(b, ...)`` activations of the same b images. Batches of fewer than 4 images carry no
    unbiased estimate and are skipped (counted in ``skipped_examples``). ``result()`` returns
    the (len(X), len(Y)) CKA matrix; a layer with no variance in any batch gets CKA 0 (it
    shares no structure) and is listed in ``degenerate_x`` / ``degenerate_y``.
    """

    def __init__(self, n_x: int, n_y: int):
        if n_x < 1 or n_y < 1:
            raise InputError("MinibatchCKA needs at least one layer on each side")
        self.n_x, self.n_y = n_x, n_y
        self.hsic_xy = np.zeros((n_x, n_y))
        self.hsic_xx = np.zeros(n_x)
        self.hsic_yy = np.zeros(n_y)
        self.batches = 0
        self.examples = 0
        self.skipped_examples = 0
        self.degenerate_x: list[int] = []
        self.degenerate_y: list[int] = []
        self._grams_x, self._grams_y = BatchGrams(), BatchGrams()

    @staticmethod
    def _list(feats, n: int, name: str) -> list[torch.Tensor]:
        items = list(feats.values()) if isinstance(feats, Mapping) else list(feats)
        if len(items) != n:
            raise InputError(f"expected {n} {name} layers in this batch, got {len(items)}")
        return [torch.from_numpy(t) if not isinstance(t, torch.Tensor) else t for t in items]

    def update(
        self, xs: Sequence[ArrayLike] | Mapping[str, ArrayLike], ys: Sequence[ArrayLike] | Mapping[str, ArrayLike]
    ) -> None:
        fx, fy = self._list(xs, self.n_x, "X"), self._list(ys, self.n_y, "Y")
        b = fx[0].shape[0]
        if any(t.shape[0] != b for t in fx + fy):
            raise InputError("every layer in a minibatch must hold the same images (same batch size)")
        if b < MIN_BATCH:
            self.skipped_examples += b
            log.debug("minibatch CKA: skipping a batch of %d (< %d) images", b, MIN_BATCH)
            return
        self.update_grams(self._grams_x(fx), self._grams_y(fy), b)

    def update_grams(self, gx: torch.Tensor, gy: torch.Tensor, b: int) -> None:
        """Accumulate from precomputed :func:`batch_grams` (reuse one model's grams for many pairs)."""
        if b < MIN_BATCH:
            self.skipped_examples += b
            return
        if gx.shape[0] != self.n_x or gy.shape[0] != self.n_y:
            raise InputError(f"expected grams of {self.n_x} and {self.n_y} layers, got {gx.shape[0]} and {gy.shape[0]}")
        denom = b * (b - 3)
        self.hsic_xy += (gx @ gy.to(gx.device).T).cpu().numpy() / denom
        self.hsic_xx += (gx * gx).sum(1).cpu().numpy() / denom
        self.hsic_yy += (gy * gy).sum(1).cpu().numpy() / denom
        self.batches += 1
        self.examples += b

    def result(self) -> np.ndarray:
        """The CKA matrix (finite, 0 for degenerate layers)."""
        if self.batches == 0:
            raise InputError(
                f"minibatch CKA saw no batch of at least {MIN_BATCH} images ({self.skipped_examples} skipped)"
            )
        tiny = 1e-12 * max(self.hsic_xx.max(initial=0.0), self.hsic_yy.max(initial=0.0), 1e-300)
        okx, oky = self.hsic_xx > tiny, self.hsic_yy > tiny
        self.degenerate_x = [int(i) for i in np.flatnonzero(~okx)]
        self.degenerate_y = [int(i) for i in np.flatnonzero(~oky)]
        if self.degenerate_x or self.degenerate_y:
            log.warning(
                "minibatch CKA: layers without variance (CKA set to 0): X %s, Y %s",
                self.degenerate_x,
                self.degenerate_y,
            )
        norm = np.sqrt(np.where(okx, self.hsic_xx, 1.0))[:, None] * np.sqrt(np.where(oky, self.hsic_yy, 1.0))[None, :]
        out = self.hsic_xy / norm
        out[~okx, :] = 0.0
        out[:, ~oky] = 0.0
        return out


def full_cka_matrix(xs: Sequence[ArrayLike], ys: Sequence[ArrayLike], debiased: bool = False) -> np.ndarray:
    """The straightforward reference: full n x n grams of every layer, then CKA of each pair.

    Memory grows with n^2 x layers (and the caller holds every activation); used by the
    benchmark and tests to check the minibatch estimate.
    """
    def grams(feats):
        out = []
        for t in feats:
            f = torch.from_numpy(t) if not isinstance(t, torch.Tensor) else t.detach()
            f = f.reshape(f.shape[0], -1)
            if f.shape[0] < (4 if debiased else 2):
                raise InputError(f"full CKA needs at least {4 if debiased else 2} examples, got {f.shape[0]}")
            f = f.to(torch.promote_types(f.dtype, torch.float32))  # same precision policy as the minibatch path
            f = f - f.mean(dim=0, keepdim=True)
            f = f / f.abs().max().clamp_min(1e-30)
            g = center_gram((f @ f.T).double(), unbiased=debiased)
            out.append(g / torch.linalg.norm(g).clamp_min(1e-300))
        return out

    gx, gy = grams(xs), grams(ys)
    return np.array([[float(a.flatten() @ b.flatten()) for b in gy] for a in gx])
