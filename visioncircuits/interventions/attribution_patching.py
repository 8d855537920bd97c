"""Attribution patching: a first-order estimate of every unit's patching effect from one backward pass.

Patching unit ``u`` from corrupted into clean changes the metric by about
``sum_positions (a_corrupted - a_clean) * dmetric/da`` at the clean input (Nanda 2023;
Syed et al. 2023). One forward and one backward pass give the estimate for every channel of
every requested layer and every latent of a spliced SAE (whose latents carry gradients, error
term kept), instead of one forward pass per unit. Exact when the network is linear after
the unit; :func:`patching_rank_correlation` measures how well it ranks units otherwise.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Union

import numpy as np
import torch

from visioncircuits.errors import InputError
from visioncircuits.interventions.patching import Metric, check_pair, metric_values
from visioncircuits.interventions.targets import UnitLike, Units, expand_targets, group_by_key
from visioncircuits.keys import LOGITS, model_layer
from visioncircuits.units import Unit

if TYPE_CHECKING:
    from visioncircuits.hooks import HookedModel


def _passes(keys: list[str]) -> list[list[str]]:
    """Split layer keys so that no pass reads one model layer twice: an SAE spliced on a layer
    would otherwise route that layer's gradient through its encoder."""
    passes: list[list[str]] = []
    for k in keys:
        layer = model_layer(k)
        for p in passes:
            if all(model_layer(o) != layer for o in p):
                p.append(k)
                break
        else:
            passes.append([k])
    return passes


def _four_d(t: torch.Tensor) -> torch.Tensor:
    return t[:, :, None, None] if t.dim() == 2 else t


def _estimate(unit: Unit, diff: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Sum over positions (or the unit's own position) of diff * grad, per image."""
    if unit.has_position:
        return diff[:, unit.index, unit.y, unit.x] * grad[:, unit.index, unit.y, unit.x]
    return (diff[:, unit.index] * grad[:, unit.index]).sum(dim=(1, 2))


def attribution_patching(model: HookedModel, clean: torch.Tensor, corrupted: torch.Tensor,
                         layers_or_units: Union[Units, UnitLike], metric: Metric) -> dict[str, float]:
    """Estimated effect on ``metric`` of patching each unit from ``corrupted`` into ``clean``.

    ``layers_or_units``: layer names (all channels), ``"sae:DIR"`` (all latents) or unit
    addresses. Returns ``{address: estimate}``, comparable with
    :func:`~visioncircuits.interventions.patching.activation_patching` (mean over pairs).

    Examples:
        >>> est = attribution_patching(model, clean, corrupted, ["blocks.9"], logit_metric(207))  # doctest: +SKIP
    """
    check_pair(clean, corrupted)
    targets = expand_targets(model, layers_or_units)
    n = clean.shape[0]
    if n == 0:
        raise InputError("attribution patching needs at least one image pair")
    clean, corrupted = clean.to(model.device), corrupted.to(model.device)
    groups = group_by_key(targets)
    corrupt_cache = model.run_with_cache(corrupted, list(groups))
    out: dict[str, float] = {}
    for keys in _passes(list(groups)):
        with torch.enable_grad():
            x = clean.detach().clone().requires_grad_(True)  # a graph even if the weights are frozen
            cache = model.run_with_cache(x, keys + [LOGITS], detach=False)
            assert cache.output is not None  # LOGITS was requested
            total = metric_values(metric, cache.output).sum()
            grads = torch.autograd.grad(total, [cache[k] for k in keys], allow_unused=True)
        for k, g in zip(keys, grads):
            a = _four_d(cache[k].detach())
            g = torch.zeros_like(a) if g is None else _four_d(g)
            diff = _four_d(corrupt_cache[k]) - a
            for u in groups[k]:
                out[str(u)] = float(_estimate(u, diff, g).mean())
    return {str(u): out[str(u)] for u in targets}


def patching_rank_correlation(estimates: Mapping[str, float], effects: Mapping[str, float]) -> float:
    """Spearman rank correlation between attribution estimates and true patching effects
    over the units both cover (NaN when fewer than 3 or either side is constant)."""
    from scipy.stats import spearmanr

    common = [k for k in estimates if k in effects]
    if len(common) < 3:
        return math.nan
    a = [float(estimates[k]) for k in common]
    b = [float(effects[k]) for k in common]
    if len(set(a)) < 2 or len(set(b)) < 2:
        return math.nan
    return float(np.asarray(spearmanr(a, b)[0]))
