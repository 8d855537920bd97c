"""Upstream and downstream neighbours of the site's units by expanded weights.

For each pair of consecutive site layers (lower, upper) one
:class:`~visioncircuits.circuits.expanded.ExpandedWeights` call gives the linear map from
every lower channel to each selected upper unit. A unit's strength to a neighbour is the
kernel's sum (positive: excites); the kernel itself (centre crop) is kept for the hover.
Results are cached in ``SITE/neighbours/<lower>__<upper>.json`` keyed by the units, so a
rerun computes nothing.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import torch

from visioncircuits.atomic import write_json
from visioncircuits.errors import VisionCircuitsError
from visioncircuits.utils import slug

log = logging.getLogger(__name__)
KERNEL_MAX = 7  # hover kernels are cropped to the centre 7x7


def _centre(k: torch.Tensor, side: int = KERNEL_MAX) -> torch.Tensor:
    h, w = k.shape[-2:]
    y0, x0 = max(0, h // 2 - side // 2), max(0, w // 2 - side // 2)
    return k[..., y0:y0 + side, x0:x0 + side]


def pair_weights(model, lower: str, upper: str, lower_units: Sequence[int], upper_units: Sequence[int],
                 size: int, cache_dir: Path, top: int) -> dict:
    """``{"up", "up_all", "down"}``: per unit index, edges ``{"unit", "strength", "kernel"}``,
    strongest first. ``up`` ranks the site's lower units, ``up_all`` every lower channel
    (most have no page), ``down`` the site's upper units."""
    from visioncircuits.circuits.expanded import ExpandedWeights
    from visioncircuits.fingerprint import model_fingerprint

    key = {**model_fingerprint(model), "lower": lower, "upper": upper, "lower_units": list(map(int, lower_units)),
           "upper_units": list(map(int, upper_units)), "size": int(size), "top": int(top), "crop": "auto"}
    f = cache_dir / f"{slug(lower)}__{slug(upper)}.json"
    if f.exists():
        try:
            rec = json.loads(f.read_text())
            if rec.get("key") == key:
                return rec["edges"]
        except (json.JSONDecodeError, OSError, KeyError):
            pass
    w = ExpandedWeights(model, size=size).compute(lower, upper, crop="auto", units=list(map(int, upper_units)))
    s = w.sum(dim=(2, 3))  # (R, C_lower)
    up: dict = {}
    up_all: dict = {}
    lower_set = list(map(int, lower_units))
    for r, i in enumerate(upper_units):
        order = s[r, lower_set].abs().argsort(descending=True)[:top]
        up[str(int(i))] = [_edge(lower, lower_set[j], s[r, lower_set[j]], w[r, lower_set[j]]) for j in order.tolist()]
        order = s[r].abs().argsort(descending=True)[:top]
        up_all[str(int(i))] = [_edge(lower, int(c), s[r, c], w[r, c]) for c in order.tolist()]
    down: dict = {}
    for c in lower_set:
        col = s[:, c]
        order = col.abs().argsort(descending=True)[:top]
        down[str(c)] = [_edge(upper, int(upper_units[r]), col[r], w[r, c]) for r in order.tolist()]
    edges = {"up": up, "up_all": up_all, "down": down, "kernel_shape": list(w.shape[-2:])}
    write_json(f, {"key": key, "edges": edges})
    return edges


def _edge(layer: str, index: int, strength: torch.Tensor, kernel: torch.Tensor) -> dict:
    k = _centre(kernel.detach().float().cpu())
    return {"unit": f"{layer}:{index}", "strength": float(strength),
            "kernel": [[round(float(v), 5) for v in row] for row in k.tolist()]}


def site_neighbours(model, layers: Sequence[str], units: dict, size: int, cache_dir: Path, top: int) -> dict:
    """``{address: {"up": [...], "down": [...]}}`` for every site unit, from consecutive layer pairs."""
    out: dict = {f"{layer}:{i}": {"up": [], "up_all": [], "down": []} for layer in layers for i in units[layer]}
    if top < 1:
        return out
    for lower, upper in zip(layers, layers[1:]):
        try:
            e = pair_weights(model, lower, upper, units[lower], units[upper], size, cache_dir, top)
        except (RuntimeError, ValueError, VisionCircuitsError) as err:  # e.g. a layer expanded weights cannot read
            log.warning("no expanded weights %s -> %s: %s", lower, upper, err)
            continue
        for i, edges in e["up"].items():
            out[f"{upper}:{i}"]["up"] = edges
            out[f"{upper}:{i}"]["up_all"] = e["up_all"][i]
        for c, edges in e["down"].items():
            out[f"{lower}:{c}"]["down"] = edges
    return out
