"""Activation patching vs attribution patching on toy pairs that differ in one primitive.

For every class part (see :mod:`~visioncircuits.interventions.toy_pairs`), patch each unit of
the primitive layer from the image without the part into the image with it and measure the
class logit; attribution patching estimates the same effects from one backward pass. Two
numbers per model: how well the estimate ranks units (Spearman over the layer's units), and
whether the unit with the largest true drop is labelled with the removed primitive (the
ground truth check of patching itself, against the chance of a random unit).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from visioncircuits.interventions.attribution_patching import attribution_patching, patching_rank_correlation
from visioncircuits.interventions.patching import activation_patching, logit_metric
from visioncircuits.interventions.toy_pairs import removal_pairs
from visioncircuits.toyworld.scenes import CLASSES

if TYPE_CHECKING:
    from visioncircuits.hooks import HookedModel


@dataclass
class PairResult:
    """One class part: rank agreement and whether the top units carry the removed primitive."""

    pair: str
    spearman: float
    top_true_hit: bool  # the unit with the largest true logit drop is labelled with a removed primitive
    top_estimate_hit: bool  # the same for the attribution estimate
    chance: float  # share of the layer's units labelled with a removed primitive
    true_drop_top: float


def patching_agreement(model: HookedModel, layer: str, labels: list[str], n_pairs: int = 8,
                       seed: int = 0, classes: Optional[Sequence[str]] = None) -> list[PairResult]:
    """Attribution vs true patching effects of every unit of ``layer``, for every class part
    (of every class, or of ``classes``)."""
    size = int(model.spec.input_size)
    units = [f"{layer}:{c}" for c in range(model.channels(layer))]
    out = []
    for label, cls in enumerate(CLASSES):
        if classes is not None and cls not in classes:
            continue
        for pair in removal_pairs(cls, n_pairs, seed + label, size):
            metric = logit_metric(label)
            true = activation_patching(model, pair.clean, pair.corrupted, units, metric)
            est = attribution_patching(model, pair.clean, pair.corrupted, units, metric)
            hit = [labels[c] in pair.removed for c in range(len(units))]
            top_true = int(np.argmin([true[u] for u in units]))
            top_est = int(np.argmin([est[u] for u in units]))
            out.append(PairResult(pair.name, patching_rank_correlation(est, true), hit[top_true], hit[top_est],
                                  float(np.mean(hit)), -float(true[units[top_true]])))
    return out


def summarise_pairs(rows: list[PairResult]) -> dict:
    """Means over class parts (NaN correlations, from constant effects, left out and counted)."""
    rhos = [r.spearman for r in rows if not np.isnan(r.spearman)]
    return {
        "pairs": len(rows),
        "spearman_mean": float(np.mean(rhos)) if rhos else float("nan"),
        "spearman_min": float(np.min(rhos)) if rhos else float("nan"),
        "undefined": len(rows) - len(rhos),
        "top_true_hit": float(np.mean([r.top_true_hit for r in rows])),
        "top_estimate_hit": float(np.mean([r.top_estimate_hit for r in rows])),
        "chance": float(np.mean([r.chance for r in rows])),
        "per_pair": [asdict(r) for r in rows],
    }
