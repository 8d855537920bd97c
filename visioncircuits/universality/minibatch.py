"""Minibatch CKA (Nguyen, Raghu & Kornblith 2021): every layer pair in constant memory.

Full CKA needs n x n gram matrices (or every activation) of every layer at once. Here each
minibatch contributes its unbiased HSIC estimate (U-centred grams, Song et al. 2012) to
running sums, ``CKA = sum HSIC(K, L) / sqrt(sum HSIC(K, K) * sum HSIC(L, L))``, so memory is
one batch's grams whatever the number of images, and the estimate is unbiased in the batch
size (unlike averaging per-batch biased CKA).
"""
from __future__ import annotations

import logging
from typing import Mapping, Sequence

import numpy as np
import torch

from visioncircuits.errors import InputError
from visioncircuits.universality.cka import center_gram
from visioncircuits.universality.features import ArrayLike

log = logging.getLogger(__name__)

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

    def update(self, xs: Sequence[ArrayLike] | Mapping[str, ArrayLike], ys: Sequence[ArrayLike] | Mapping[str, ArrayLike]) -> None:
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
            raise InputError(f"minibatch CKA saw no batch of at least {MIN_BATCH} images ({self.skipped_examples} skipped)")
        tiny = 1e-12 * max(self.hsic_xx.max(initial=0.0), self.hsic_yy.max(initial=0.0), 1e-300)
        okx, oky = self.hsic_xx > tiny, self.hsic_yy > tiny
        self.degenerate_x = [int(i) for i in np.flatnonzero(~okx)]
        self.degenerate_y = [int(i) for i in np.flatnonzero(~oky)]
        if self.degenerate_x or self.degenerate_y:
            log.warning("minibatch CKA: layers without variance (CKA set to 0): X %s, Y %s", self.degenerate_x, self.degenerate_y)
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
