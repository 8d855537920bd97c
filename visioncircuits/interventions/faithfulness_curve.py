"""The faithfulness curve: faithfulness as a circuit grows, and the area under it.

A method that scores every unit of the spanned layers (expanded weights, activation x
gradient, integrated gradients, attribution patching) ranks each layer; the circuit at
fraction ``f`` keeps the top ``floor(f * C)`` units of every layer of ``C`` units. The curve
runs from 0 (``f = 0``, the empty circuit) to 1 (``f = 1``, the full model) by definition;
its area over ``f`` in [0, 1] (trapezoids) is the one number to compare methods by: near 1 a
ranking that puts the units that matter first, about what a random order gives for a ranking
that knows nothing. It leaves [0, 1] only if the curve does.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping, Sequence

import torch

from visioncircuits.circuits.prune import RANKS
from visioncircuits.errors import InputError

if TYPE_CHECKING:
    from visioncircuits.interventions.faithfulness import CircuitProbe

DEFAULT_FRACTIONS = tuple(i / 10 for i in range(11))


def ranking(scores: torch.Tensor, rank: str = "abs") -> torch.Tensor:
    """Every unit, most important first: by ``|score|`` ("abs"), by score ("positive") or by
    ``-score`` ("negative"); ties broken by unit index (stable)."""
    if rank not in RANKS:
        raise InputError(f"rank must be one of {', '.join(RANKS)}, got {rank!r}")
    s = scores.detach().double().flatten().cpu()
    key = {"abs": s.abs(), "positive": s, "negative": -s}[rank]
    return torch.sort(-key, stable=True).indices


def units_at(fraction: float, n: int) -> int:
    """Units a layer of ``n`` keeps at ``fraction`` (floor, so never more than the fraction)."""
    return int(math.floor(float(fraction) * n + 1e-9))


def top_units(orders: Mapping[str, torch.Tensor], fraction: float) -> dict[str, list[int]]:
    """The circuit at ``fraction``: the top ``floor(fraction * C)`` units of every layer."""
    return {k: sorted(o[: units_at(fraction, o.numel())].tolist()) for k, o in orders.items()}


def check_fractions(fractions: Sequence[float]) -> list[float]:
    f = [float(x) for x in fractions]
    if len(f) < 2 or f[0] != 0.0 or f[-1] != 1.0 or any(b <= a for a, b in zip(f, f[1:])):
        raise InputError(f"fractions must increase from 0 to 1, got {fractions}")
    return f


def faithfulness_curve(probe: CircuitProbe, orders: Mapping[str, torch.Tensor],
                       fractions: Sequence[float] = DEFAULT_FRACTIONS) -> torch.Tensor:
    """(P, G) faithfulness of the top-``fraction`` circuit for each fraction (0 and 1 exact)."""
    fractions = check_fractions(fractions)
    missing = sorted(set(probe.layers) - set(orders))
    if missing:
        raise InputError(f"no ranking for the spanned layer(s) {missing}")
    for k, o in orders.items():
        if k in probe.sizes and o.numel() != probe.sizes[k]:
            raise InputError(f"ranking of {k} has {o.numel()} units, the layer {probe.sizes[k]}")
    rows = []
    for f in fractions:
        if f == 0.0:
            rows.append(torch.zeros(probe.n_groups, dtype=torch.float64))
        elif f == 1.0:
            rows.append(torch.ones(probe.n_groups, dtype=torch.float64))
        else:
            rows.append(probe.faithfulness(top_units({k: orders[k] for k in probe.layers}, f)))
    out = torch.stack(rows)
    out[:, probe.undefined] = float("nan")  # undefined metric: the whole curve is
    return out


def curve_auc(fractions: Sequence[float], values: torch.Tensor) -> torch.Tensor:
    """Trapezoid area under ``values`` (P, ...) over ``fractions`` (P,) in [0, 1]."""
    x = torch.tensor(check_fractions(fractions), dtype=torch.float64)
    return torch.trapezoid(values.double(), x, dim=0)


def curve_summary(probe: CircuitProbe, scores: Mapping[str, torch.Tensor], rank: str = "abs",
                  fractions: Sequence[float] = DEFAULT_FRACTIONS) -> dict:
    """The curve of one target (group 0) ranked by ``scores``: fractions, faithfulness, AUC."""
    orders = {k: ranking(scores[k], rank) for k in probe.layers if k in scores}
    curve = faithfulness_curve(probe, orders, fractions)[:, 0]
    return {"rank": rank, "fractions": [float(f) for f in fractions], "faithfulness": curve.tolist(),
            "auc": float(curve_auc(fractions, curve))}
