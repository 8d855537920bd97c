"""Activation atlas of one layer (Carter et al. 2019): the layer's activation space at once.

1. :func:`collect`: spatial activation vectors from a photo folder (``positions`` random map
   positions per photo, remembering where each came from).
2. :func:`layout_2d`: UMAP (umap-learn, imported lazily: it is slow to import) to 2-D, then
   :func:`grid_cells`: a ``grid`` x ``grid`` grid, averaging the vectors in each cell.
3. Each cell's mean direction is rendered by the feature-visualisation engine
   (:class:`DirectionCossim`, Lucid's ``dot x cossim`` objective) in :mod:`.atlas_build`.

:func:`class_attribution` says which classes a cell supports: the cell's mean vector is
written at every position of the layer, the rest of the network runs, and the logits are
compared with those of the all-photo mean vector (a forward difference, no linearisation).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from visioncircuits.data import ImageFolder
from visioncircuits.errors import InputError
from visioncircuits.featvis.objectives import Objective

log = logging.getLogger(__name__)


@dataclass
class Activations:
    """``vectors`` (M, C); ``refs`` (M, 3) = (photo index, y, x); ``paths`` of the photos; map size ``hw``."""

    vectors: torch.Tensor
    refs: torch.Tensor
    paths: list
    hw: tuple


def collect(model, layer: str, folder: Union[str, os.PathLike], *, size: int, positions: int = 8,
            limit: Optional[int] = None, seed: int = 0, batch_size: int = 32) -> Activations:
    """``positions`` random spatial activation vectors per photo (all of them if the map is smaller)."""
    gen = torch.Generator().manual_seed(seed)
    vecs, refs, paths = [], [], []
    hw: tuple = ()
    data = ImageFolder(folder, size, limit=limit)
    with torch.no_grad():
        for batch_paths, imgs in data.batches(batch_size):
            a = model.run_with_cache(imgs.to(model.device), [layer])[layer]
            if a.dim() != 4:
                raise InputError(f"an activation atlas needs a conv layer (C, H, W); '{layer}' has shape "
                                 f"{tuple(a.shape[1:])}")
            n, c, h, w = a.shape
            hw = (h, w)
            k = min(positions, h * w)
            for b in range(n):
                pos = torch.randperm(h * w, generator=gen)[:k]
                vecs.append(a[b].flatten(1)[:, pos.to(a.device)].T.float().cpu())
                refs.append(torch.stack([torch.full((k,), len(paths)), pos // w, pos % w], 1))
                paths.append(str(batch_paths[b]))
    if not paths:
        raise InputError(f"no readable images in {folder}")
    v, r = torch.cat(vecs), torch.cat(refs)
    alive = v.norm(dim=1) > 1e-6  # all-zero vectors (silent positions after a ReLU) have no direction
    return Activations(v[alive], r[alive], paths, hw)


def layout_2d(vectors: torch.Tensor, seed: int = 0, n_neighbors: int = 15, method: str = "umap") -> np.ndarray:
    """UMAP of the vectors (cosine metric; or ``method="pca"``) scaled into [0, 1) per axis: (M, 2)."""
    m = int(vectors.shape[0])
    if m < 8:
        raise InputError(f"an activation atlas needs at least 8 activation vectors, got {m}")
    x = F.normalize(vectors.float(), dim=1)
    if method == "pca":
        x = x - x.mean(0)
        xy = (x @ torch.linalg.svd(x, full_matrices=False).Vh[:2].T).double().numpy()
    else:
        import umap  # lazy: importing umap-learn (numba) takes seconds, its first fit compiles for ~20 s CPU

        reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, m - 1), min_dist=0.01, metric="cosine",
                            random_state=seed, n_jobs=1)
        xy = np.asarray(reducer.fit_transform(x.numpy()), dtype=np.float64)
    lo, hi = xy.min(0), xy.max(0)
    return np.clip((xy - lo) / np.maximum(hi - lo, 1e-9), 0, 1 - 1e-9)


def grid_cells(xy: np.ndarray, vectors: torch.Tensor, grid: int, min_count: int) -> list:
    """Cells with at least ``min_count`` vectors: ``{"gx", "gy", "members", "mean"}`` (row-major)."""
    cx = np.floor(xy[:, 0] * grid).astype(int)
    cy = np.floor((1 - xy[:, 1]) * grid).astype(int).clip(0, grid - 1)  # y up, as in a plot
    cells = []
    for gy in range(grid):
        for gx in range(grid):
            members = np.nonzero((cx == gx) & (cy == gy))[0]
            if len(members) >= min_count:
                mean = vectors[torch.as_tensor(members)].mean(0)
                if float(mean.norm()) > 0:
                    cells.append({"gx": gx, "gy": gy, "members": members.tolist(), "mean": mean})
    return cells


def top_members(cell: dict, vectors: torch.Tensor, n: int) -> list:
    """The ``n`` member vectors closest (cosine) to the cell's mean: its most typical patches."""
    idx = torch.as_tensor(cell["members"])
    cos = F.cosine_similarity(vectors[idx], cell["mean"][None], dim=1)
    return [int(idx[j]) for j in cos.argsort(descending=True)[:n].tolist()]


@torch.no_grad()
def class_attribution(model, layer: str, means: torch.Tensor, baseline: torch.Tensor, size: int,
                      batch_size: int = 32) -> torch.Tensor:
    """(cells, classes): logits with each cell's mean written at every position of ``layer``,
    minus the logits with ``baseline`` (the mean of all vectors) written there."""
    info = model.layer_info(size)[layer]
    _, h, w = info.shape
    rows = []
    vecs = torch.cat([baseline[None], means]).to(model.device)
    for s in range(0, vecs.shape[0], batch_size):
        v = vecs[s:s + batch_size]

        def put(out, _layer, v=v):
            return v[:, :, None, None].expand(v.shape[0], v.shape[1], h, w).to(out.dtype).contiguous()

        x = torch.zeros(v.shape[0], 3, size, size, device=model.device)
        with model.hooks([(layer, put)]):
            rows.append(model(x).float().cpu())
    logits = torch.cat(rows)
    return logits[1:] - logits[:1]


class DirectionCossim(Objective):
    """Lucid's activation-atlas objective: ``dot(a, v) * max(cos(a, v), 0.1) ** power`` at every
    position, averaged: rewards the direction, not just a large activation."""

    def __init__(self, layer: str, vector: torch.Tensor, power: float = 1.0, name: str = ""):
        v = torch.as_tensor(vector, dtype=torch.float32).flatten()
        if float(v.norm()) == 0:
            raise InputError("an atlas cell's mean vector is zero; it cannot be rendered")
        self.layer, self.vector, self.power = layer, v / v.norm(), float(power)
        self.layers = frozenset([layer])
        self.name = name or f"{layer}:atlas-direction"

    def __call__(self, acts):
        a = acts[self.layer]
        v = self.vector.to(a.device, a.dtype)
        dot = torch.einsum("nchw,c->nhw", a, v)
        cos = dot / a.norm(dim=1).clamp(min=1e-8)
        return (dot * cos.clamp(min=0.1) ** self.power).mean(dim=(1, 2))
