"""Universality on Ray: one task per model pair (its comparison and its pictures).

A task streams the probes through its two models (and the second one's random-weights null),
compares them with ``compare(..., pair_slot=(j, n))`` (the permutation null draws its
generator as the whole job does) and builds the pair's report section, rendering into the
shared ``vis`` folder. The driver merges the pairs in order; the report equals a
single-process one (except its ``seconds``).
"""
from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any, Mapping, Optional

from visioncircuits.distributed.backend import run_shards
from visioncircuits.distributed.config import RayConfig
from visioncircuits.universality.compare import CompareResult, compare
from visioncircuits.universality.probes import layer_units


def _pair_task(item: tuple, models: dict, nulls: dict, layers: dict, probes, opts, labels, vis_cache: str,
               n_pairs: int) -> tuple:
    from visioncircuits.universality.pipeline import pair_report

    j, (a, b) = item
    settings = dataclasses.replace(opts.compare, progress=False)
    pair_nulls = {b: nulls[b]} if b in nulls else None
    res = compare({a: models[a], b: models[b]}, {a: layers[a], b: layers[b]}, probes, pair_nulls, settings,
                  pair_slot=(j, n_pairs))
    section = pair_report(res, res.pairs[0], models, probes, opts, labels, vis_cache=Path(vis_cache))
    return res, section


def ray_compare_pairs(models: Mapping[str, Any], layers: Mapping[str, list], probes, null_models: Optional[Mapping],
                      opts, label_fn, vis_cache: Path, ray: RayConfig) -> tuple[CompareResult, list]:
    """``compare`` + ``pair_report`` of every model pair as Ray tasks -> (merged result, pair sections)."""
    names = list(models)
    units = {n: layer_units(models[n], layers[n]) for n in names}
    labels = {n: label_fn(n, models[n], units[n]) for n in names} if label_fn is not None else None
    pairs = list(itertools.combinations(names, 2))
    out = run_shards(_pair_task, list(enumerate(pairs)), ray,
                     shared=(dict(models), dict(null_models or {}), dict(layers), probes, opts, labels,
                             str(vis_cache), len(pairs)),
                     sizes=[1] * len(pairs), desc=f"universality ({len(pairs)} model pairs)", unit="pair")
    per_model: dict = {}
    for res, _ in out:
        for n in res.models:
            per_model.setdefault(n, res)
    merged = CompareResult(
        models=names, layers={n: list(layers[n]) for n in names}, units=units,
        pairs=[res.pairs[0] for res, _ in out],
        top_values={n: per_model[n].top_values[n] for n in names},
        top_indices={n: per_model[n].top_indices[n] for n in names},
        unit_means={n: per_model[n].unit_means[n] for n in names},
        n_images=out[0][0].n_images, settings=opts.compare,
    )
    return merged, [section for _, section in out]
