"""Circuit metrics for a built graph: which images, which layers, and the record stored in it.

:func:`graph_metrics` measures a graph from :func:`~visioncircuits.circuits.graph.build_circuit`
with :mod:`visioncircuits.interventions.faithfulness` and returns the dict stored as
``graph.graph["metrics"]`` (exported to ``circuit.json``, shown on the page, printed by the
CLI). Images: reference means over the dataset images the graph was built on (the first
``n_images``); the target is measured on *other* images, the ones that drive it most (the top
quarter of the held-out pool by target value), because on images where the target is at its
average, ablation to the mean changes nothing and the metrics are undefined. A graph built
without images gets ``{"status": "not computed", "reason": ...}``, never invented numbers.
"""
from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Optional

import networkx as nx
import torch

from visioncircuits.circuits.attribution import Inputs, iter_batches
from visioncircuits.errors import InputError

if TYPE_CHECKING:
    from visioncircuits.circuits.config import CircuitConfig
    from visioncircuits.hooks import HookedModel

log = logging.getLogger(__name__)

TOP_SHARE = 0.25  # of the held-out pool: the images where the target is highest
MIN_HELD_OUT = 8


def not_computed(reason: str) -> dict:
    """The record of a graph whose metrics were not measured, and why."""
    return {"status": "not computed", "reason": reason}


def spanned_layers(graph: nx.DiGraph) -> list[str]:
    """Layer keys of the graph's non-target nodes (``"sae:DIR"`` for latents), nearest the target first."""
    depth: dict[str, int] = {}
    for _n, d in graph.nodes(data=True):
        if int(d.get("depth", 0)) == 0:
            continue
        key = f"sae:{d['sae']}" if d.get("kind") == "sae" else str(d["layer"])
        depth[key] = min(depth.get(key, 10**9), int(d["depth"]))
    return sorted(depth, key=lambda k: (depth[k], k))


def _load(model, images: Inputs, limit: Optional[int]) -> torch.Tensor:
    batches = list(iter_batches(model, images, 64, limit))
    if not batches:
        raise InputError("no readable images to measure the circuit on")
    return torch.cat(batches)


@torch.no_grad()
def top_images(model: HookedModel, target, pool: torch.Tensor, share: float = TOP_SHARE,
               minimum: int = MIN_HELD_OUT) -> torch.Tensor:
    """The ``share`` of ``pool`` (at least ``minimum`` images) where ``target`` is highest."""
    from visioncircuits.interventions.faithfulness import target_values

    fn = target_values(model, target)
    v = torch.cat([fn(pool[s:s + 64].to(model.device)).float().cpu() for s in range(0, pool.shape[0], 64)])
    n = min(pool.shape[0], max(minimum, math.ceil(share * pool.shape[0])))
    return pool[torch.argsort(v, descending=True)[:n].sort().values]


def metric_images(model: HookedModel, target, dataset: Inputs, n_images: Optional[int],
                  held_out: Optional[Inputs] = None) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(reference images, held-out images, description) for a graph built on ``dataset``.

    Reference: the first ``n_images`` of ``dataset``. Held-out: ``held_out`` as given, or the
    top quarter (by target) of the next images of ``dataset`` (up to 4 x ``n_images``); if the
    dataset has no more, of the reference images themselves (and the record says so).
    """
    n = n_images or 64
    reference = _load(model, dataset, n)
    if held_out is not None:
        held = _load(model, held_out, None)
        return reference, held, {"reference": int(reference.shape[0]), "held_out": int(held.shape[0]),
                                 "selection": "the held-out images given"}
    pool = _load(model, dataset, n + 4 * n)[reference.shape[0]:]
    note = f"top {TOP_SHARE:.0%} by target of {pool.shape[0]} dataset images after the first {reference.shape[0]}"
    if pool.shape[0] == 0:
        pool = reference
        note = (f"top {TOP_SHARE:.0%} by target of the {reference.shape[0]} reference images "
                "(the dataset has no others: not held out)")
    held = top_images(model, target, pool)
    return reference, held, {"reference": int(reference.shape[0]), "held_out": int(held.shape[0]), "selection": note}


def toyworld_dataset(model: HookedModel, n_images: int, seed: int = 0) -> torch.Tensor:
    """Generated toy-world images for a circuit with metrics: ``n_images`` to build and take means
    on, then ``4 * n_images`` more from which :func:`metric_images` draws the held-out ones."""
    from visioncircuits.toyworld import generate

    return generate(5 * n_images, seed=seed, size=int(model.spec.input_size)).images


def graph_metrics(model: HookedModel, graph: nx.DiGraph, config: CircuitConfig, dataset: Optional[Inputs] = None,
                  held_out: Optional[Inputs] = None) -> dict:
    """The metrics record of ``graph`` (see the module docstring); ``not computed`` without images."""
    from visioncircuits.circuits.unit_scores import unit_scores
    from visioncircuits.interventions.faithfulness import circuit_metrics, circuit_units

    if dataset is None:
        return not_computed("no images: the graph was built from weights alone; give a dataset "
                            "(or --toyworld on the CLI) to measure faithfulness and completeness")
    target = str(graph.graph["target"])
    layers = spanned_layers(graph)
    if not layers:
        return not_computed("the graph has no units below its target")
    units, _ = circuit_units(graph, target)
    reference, held, images = metric_images(model, target, dataset, config.n_images, held_out)
    method = "weights" if config.method == "weights" else config.attribution
    scores = unit_scores(model, target, layers, method, reference, n_images=config.n_images, crop=config.crop,
                         reference=reference)
    m = circuit_metrics(model, units, held, reference, target=target, layers=layers, n_null=config.null_samples,
                        seed=config.seed, scores=scores, rank=config.rank, progress=config.progress)
    out = m.to_dict()
    out["images"] = images
    out["curve"]["method"] = method
    return out


def _num(v, fmt: str = ".2f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


def metrics_lines(metrics: dict) -> list[str]:
    """Human-readable lines of a metrics record (the CLI prints them; the library does not)."""
    if not metrics or metrics.get("status") != "computed":
        reason = (metrics or {}).get("reason", "metrics off")
        return [f"metrics: not computed ({reason})"]
    null = metrics.get("null") or {}

    def vs(name: str) -> str:
        s = null.get(name)
        if not s:
            return ""
        return f" (random circuits {_num(s['mean'])} +- {_num(s['std'])}, z {_num(s['z'], '.1f')})"

    lines = [
        f"faithfulness {_num(metrics['faithfulness'])}{vs('faithfulness')}",
        f"completeness {_num(metrics['completeness'])}{vs('completeness')}",
        f"circuit: {metrics['units']} units = {_num(100 * metrics['share_of_units'], '.1f')} % of the "
        f"{len(metrics['layers'])} spanned layer(s); {metrics['n_images']} held-out images, mean ablation",
    ]
    curve = metrics.get("curve") or {}
    if curve:
        lines.append(f"faithfulness curve AUC {_num(curve.get('auc'))} (units ranked by {curve.get('method', '?')}, "
                     f"rank {curve.get('rank')})")
    return lines
