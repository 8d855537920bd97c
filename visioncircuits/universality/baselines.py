"""The same-index baseline: how much of a matching result is just "unit i of A = unit i of B".

Two models with the same widths can agree unit by unit for reasons that have nothing to do
with convergent learning: shared initial weights (the same seed for the same layer shapes)
or a supervised channel order (channel p trained to detect primitive p in every model).
Matching then pairs unit i with unit i. This baseline exposes it: the share of matches
that pair the same address (same layer rank in the selection, same channel), and the
matching score and label agreement of the identity pairing itself. Models that share
nothing by construction pair the same index about as often as chance (1 / units).
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

from visioncircuits.universality.activations import UnitRef
from visioncircuits.universality.labels import UNLABELLED
from visioncircuits.universality.matching import Match


def unit_address(unit: UnitRef, layers: Sequence[str]) -> tuple[int, int]:
    """(rank of the unit's layer in the selected layers, channel): comparable across architectures."""
    return list(layers).index(unit.layer), unit.channel


def identity_pairs(units_a: Sequence[UnitRef], layers_a: Sequence[str], units_b: Sequence[UnitRef],
                   layers_b: Sequence[str]) -> list[tuple[int, int]]:
    """(i, j) unit-index pairs with the same address in A and B."""
    where_b = {unit_address(u, layers_b): j for j, u in enumerate(units_b)}
    out = []
    for i, u in enumerate(units_a):
        j = where_b.get(unit_address(u, layers_a))
        if j is not None:
            out.append((i, j))
    return out


def same_index_baseline(matches: Sequence[Match], corr: np.ndarray, units_a: Sequence[UnitRef], layers_a: Sequence[str],
                        units_b: Sequence[UnitRef], layers_b: Sequence[str],
                        labels_a: Optional[Mapping[int, Optional[str]]] = None,
                        labels_b: Optional[Mapping[int, Optional[str]]] = None, top: int = 50) -> dict:
    """Same-index share of the matches (all, and the ``top`` strongest) and the identity pairing's score.

    ``chance`` is the same-index share a random pairing would give: the share of A's units
    with a same-address partner in B, divided by the number of units of B.
    """
    pairs = identity_pairs(units_a, layers_a, units_b, layers_b)
    ident = {i: j for i, j in pairs}
    same = [ident.get(m.a) == m.b for m in matches]
    top_same = same[:top]
    r_ident = np.array([corr[i, j] for i, j in pairs], dtype=np.float64)
    by_layer: dict[str, int] = {}
    for m, s in zip(matches, same):
        if s:
            by_layer[units_a[m.a].layer] = by_layer.get(units_a[m.a].layer, 0) + 1
    out = {
        "identity_pairs": len(pairs),
        "matches": len(matches),
        "same_index": int(sum(same)),
        "same_index_fraction": float(np.mean(same)) if same else 0.0,
        "same_index_by_layer": by_layer,  # layer of A -> same-index matches there
        "top": len(top_same),
        "top_same_index": int(sum(top_same)),
        "top_same_index_fraction": float(np.mean(top_same)) if top_same else 0.0,
        "identity_mean_r": float(r_ident.mean()) if len(pairs) else None,
        "matching_mean_r": float(np.mean([m.r for m in matches])) if matches else None,
    }
    # a random pairing gives unit i its same-address partner with probability 1 / |B|
    out["chance"] = len(pairs) / len(units_a) / len(units_b) if len(units_a) and len(units_b) else 0.0
    if labels_a is not None and labels_b is not None:
        lab = [(labels_a.get(i), labels_b.get(j)) for i, j in pairs]
        lab = [(x, y) for x, y in lab if x not in UNLABELLED and y not in UNLABELLED]
        out["identity_labelled"] = len(lab)
        out["identity_same_label_fraction"] = float(np.mean([x == y for x, y in lab])) if lab else None
    return out
