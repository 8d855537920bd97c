"""One streaming pass that compares several models on a probe set.

Per batch, each model (and each random-weights null model) runs once; from its activations
the pass accumulates, for every pair of models, minibatch CKA between every layer pair, the
unit-by-unit correlation, the correlations under permuted images (null), and the
correlation against B with random weights (null); plus, per unit, its top dataset examples
and mean activation. Nothing grows with the number of images except the top-k lists.
"""
from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

import numpy as np
import torch

from visioncircuits.errors import InputError
from visioncircuits.units import Unit
from visioncircuits.universality.matching import (
    MIN_BATCH,
    BatchGrams,
    CrossCorrelation,
    Match,
    MinibatchCKA,
    Significance,
    match_units,
    null_strengths,
    permute_images,
    significance,
)
from visioncircuits.universality.probes import (
    ProbeSet,
    layer_units,
    reduce_activation,
    stream_activations,
)

if TYPE_CHECKING:
    from visioncircuits.hooks import HookedModel

log = logging.getLogger(__name__)


@dataclass
class CompareConfig:
    """Knobs of :func:`compare`; the defaults suit a few hundred probe images on a CPU."""

    batch_size: int = 50
    grid: int = 8
    method: str = "hungarian"
    n_permutations: int = 2
    top_examples: int = 6
    alpha: float = 0.05
    seed: int = 0
    progress: bool = True


@dataclass
class PairResult:
    """Everything measured between model ``a`` and model ``b``."""

    a: str
    b: str
    cka: np.ndarray  # (layers of a, layers of b), minibatch linear CKA
    corr: np.ndarray  # (units of a, units of b)
    matches: list[Match]
    null_permuted: np.ndarray  # match strengths of the same procedure on permuted images
    null_random: Optional[np.ndarray]  # ... against b with random weights
    sig_permuted: Significance
    random_best: Optional[np.ndarray]  # (units of a,) best correlation with any unit of random-weights b
    dead_a: list[int] = field(default_factory=list)
    dead_b: list[int] = field(default_factory=list)

    @property
    def beats_random(self) -> Optional[np.ndarray]:
        """Per match: does trained B explain unit a better than any unit of B with random weights?"""
        if self.random_best is None:
            return None
        return np.array([m.r > self.random_best[m.a] for m in self.matches], dtype=bool)

    @property
    def significant(self) -> np.ndarray:
        """Significant: BH q < alpha against permuted images, and (when run) above the unit's
        random-weights baseline. The random-weights null is per unit because untrained early
        layers already correlate strongly with trained ones (architecture + image statistics)."""
        sig = self.sig_permuted.significant.copy()
        if self.random_best is not None:
            sig &= self.beats_random
        return sig


CompareSettings = CompareConfig  # deprecated name (one suffix, *Config, everywhere)


@dataclass(frozen=True)
class RandomNull:
    """Key of the random-weights twin of model ``of`` in the activation stream (was ``"NAME#random"``)."""

    of: str

    def __str__(self) -> str:
        return f"{self.of} (random weights)"


@dataclass
class CompareResult:
    models: list[str]
    layers: dict[str, list[str]]
    units: dict[str, list[Unit]]
    pairs: list[PairResult]
    top_values: dict[str, np.ndarray]  # (units, k) strongest per-image activation (max over grid)
    top_indices: dict[str, np.ndarray]  # (units, k) probe indices of those images
    unit_means: dict[str, np.ndarray]  # (units,) mean activation over images and positions
    n_images: int
    settings: CompareConfig


class _TopK:
    """Running top-k images per unit."""

    def __init__(self, n_units: int, k: int):
        self.k = k
        self.values = torch.full((n_units, 0), -float("inf"), dtype=torch.float64)
        self.indices = torch.zeros((n_units, 0), dtype=torch.long)

    def update(self, per_image: torch.Tensor, idx: Sequence[int]) -> None:
        vals = torch.cat([self.values, per_image.T.double().cpu()], dim=1)
        ids = torch.cat([self.indices, torch.tensor(list(idx), dtype=torch.long).expand(per_image.shape[1], -1)], dim=1)
        top = torch.topk(vals, min(self.k, vals.shape[1]), dim=1)
        self.values, self.indices = top.values, ids.gather(1, top.indices)


def compare(
    models: Mapping[str, HookedModel],
    layers: Mapping[str, Sequence[str]],
    probes: ProbeSet,
    null_models: Optional[Mapping[str, HookedModel]] = None,
    settings: Optional[CompareConfig] = None,
    *,
    pair_slot: Optional[tuple[int, int]] = None,
) -> CompareResult:
    """Compare every pair of ``models`` (dict name -> HookedModel) on ``probes``.

    ``null_models`` maps a model name to the same architecture with random weights; pairs
    whose second model has one get the random-weights null as well as the permutation null.
    ``pair_slot=(j, n)``: the two ``models`` are pair ``j`` of the ``n`` pairs of a larger
    job (the Ray backend runs one pair per task); the permutation null then draws the
    generator exactly as the whole job does, so the pair's result is the same.
    """
    st = settings or CompareConfig()
    names = list(models)
    if len(names) < 2:
        raise InputError("universality needs at least two models to compare")
    if st.batch_size < MIN_BATCH:
        raise InputError(f"batch size must be at least {MIN_BATCH} (unbiased HSIC), got {st.batch_size}")
    if st.grid < 1 or st.top_examples < 0 or st.n_permutations < 1:
        raise InputError("grid must be >= 1, top_examples >= 0 and n_permutations >= 1")
    null_models = {k: v for k, v in (null_models or {}).items() if k in models}
    units = {k: layer_units(models[k], layers[k]) for k in names}
    for k, m in null_models.items():
        if layer_units(m, layers[k]) != units[k]:
            raise InputError(f"the random-weights null model for '{k}' has different layers or channels than '{k}'")
    pairs = list(itertools.combinations(names, 2))
    slot_j, slot_n = pair_slot or (0, 1)
    if pair_slot is not None and (len(pairs) != 1 or not 0 <= slot_j < slot_n):
        raise InputError(f"pair_slot needs exactly two models and 0 <= j < n, got {len(names)} models, {pair_slot}")
    cka = {p: MinibatchCKA(len(layers[p[0]]), len(layers[p[1]])) for p in pairs}
    cc = {p: CrossCorrelation(len(units[p[0]]), len(units[p[1]])) for p in pairs}
    cc_perm = {
        p: [CrossCorrelation(len(units[p[0]]), len(units[p[1]])) for _ in range(st.n_permutations)] for p in pairs
    }
    cc_rand = {p: CrossCorrelation(len(units[p[0]]), len(units[p[1]])) for p in pairs if p[1] in null_models}
    tops = {k: _TopK(len(units[k]), st.top_examples) for k in names}
    sums = {k: torch.zeros(len(units[k]), dtype=torch.float64) for k in names}
    gen = torch.Generator().manual_seed(st.seed)
    gram_makers = {k: BatchGrams() for k in names}
    all_models: dict[Any, HookedModel] = dict(models)  # model names and RandomNull keys
    all_models.update({RandomNull(k): m for k, m in null_models.items()})
    all_layers = {k: list(layers[k.of if isinstance(k, RandomNull) else k]) for k in all_models}

    index_batches: list[list[int]] = []

    def batches():
        for idx, imgs in probes.batches(st.batch_size):
            index_batches.append(idx)
            yield imgs

    n_images = 0
    stream = stream_activations(
        all_models, all_layers, batches(), mode=None, progress=st.progress, total=probes.n_batches(st.batch_size)
    )
    for raw in stream:
        idx = index_batches[-1]
        b = len(idx)
        n_images += b
        maps = {
            k: torch.cat([reduce_activation(raw[k][layer], "grid", st.grid) for layer in all_layers[k]], dim=1)
            for k in raw
        }
        grams = (
            {k: gram_makers[k]([reduce_activation(raw[k][layer], "flatten") for layer in all_layers[k]]) for k in names}
            if b >= MIN_BATCH
            else {}
        )
        for k in names:
            tops[k].update(maps[k].amax(dim=(2, 3)), idx)
            sums[k] += maps[k].double().mean(dim=(2, 3)).sum(0).cpu()
        for p in pairs:
            a, bb = p
            if grams:
                cka[p].update_grams(grams[a], grams[bb], b)
            else:
                cka[p].skipped_examples += b
            cc[p].update(maps[a], maps[bb])
            if b >= 2:
                _skip_draws(gen, b, st.n_permutations * slot_j)  # the pairs before this one in the whole job
                for acc in cc_perm[p]:
                    acc.update(maps[a], permute_images(maps[bb], gen))
                _skip_draws(gen, b, st.n_permutations * (slot_n - slot_j - 1))  # and after it
            if p in cc_rand:
                cc_rand[p].update(maps[a], maps[RandomNull(bb)])
    if n_images == 0:
        raise InputError("the probe set yielded no images")

    results = []
    for p in pairs:
        corr = cc[p].result()
        matches = match_units(corr, st.method)
        strengths = [m.r for m in matches]
        nperm = null_strengths([acc.result() for acc in cc_perm[p]], st.method)
        crand = cc_rand[p].result() if p in cc_rand else None
        nrand = null_strengths([crand], st.method) if crand is not None else None
        results.append(PairResult(
            a=p[0], b=p[1], cka=cka[p].result(), corr=corr, matches=matches,
            null_permuted=nperm, null_random=nrand,
            sig_permuted=significance(strengths, nperm, st.alpha),
            random_best=crand.max(axis=1) if crand is not None else None,
            dead_a=cc[p].dead_a, dead_b=cc[p].dead_b,
        ))
    return CompareResult(
        models=names, layers={k: list(layers[k]) for k in names}, units=units, pairs=results,
        top_values={k: tops[k].values.numpy() for k in names}, top_indices={k: tops[k].indices.numpy() for k in names},
        unit_means={k: (sums[k] / n_images).numpy() for k in names}, n_images=n_images, settings=st,
    )


def _skip_draws(gen: torch.Generator, n: int, times: int) -> None:
    """Advance ``gen`` as ``times`` calls of ``permute_images`` on ``n`` images would."""
    for _ in range(times):
        torch.randperm(n, generator=gen)


def cka_matrices(
    models: Mapping[str, HookedModel],
    layers: Mapping[str, Sequence[str]],
    probes: ProbeSet,
    batch_size: int = 50,
    progress: bool = True,
) -> dict[tuple[str, str], MinibatchCKA]:
    """Only the layer-by-layer minibatch CKA of every pair of models (no unit matching).

    Returns the accumulators (``.result()`` is the matrix; ``.examples``, ``.degenerate_x``).
    """
    names = list(models)
    if len(names) < 2:
        raise InputError("CKA needs at least two models to compare")
    if batch_size < MIN_BATCH:
        raise InputError(f"batch size must be at least {MIN_BATCH} (unbiased HSIC), got {batch_size}")
    pairs = list(itertools.combinations(names, 2))
    acc = {p: MinibatchCKA(len(layers[p[0]]), len(layers[p[1]])) for p in pairs}
    gram_makers = {k: BatchGrams() for k in names}
    batches = (imgs for _, imgs in probes.batches(batch_size))
    for feats in stream_activations(
        models, layers, batches, mode="flatten", progress=progress, total=probes.n_batches(batch_size)
    ):
        b = next(iter(next(iter(feats.values())).values())).shape[0]
        grams = {k: gram_makers[k](list(feats[k].values())) for k in names} if b >= MIN_BATCH else None
        for p in pairs:
            if grams is None:
                acc[p].skipped_examples += b
            else:
                acc[p].update_grams(grams[p[0]], grams[p[1]], b)
    return acc
