"""Circuit graphs: walk down a model's main layers from a target unit, keeping the strongest
connections, into a ``networkx.DiGraph``.

Edges point the way information flows (lower unit -> upper unit). Node keys are unit
addresses (``LAYER:UNIT``, ``logit:CLASS``, ``sae:DIR:LATENT``), so a graph can be read back
with :func:`visioncircuits.units.parse_unit`. Edge strength is, for ``method="weights"``,
the net expanded weight (the kernel summed over positions: the upper unit's response to a
uniform activation of the lower one), with the kernel kept for display; for
``method="attribution"``, the lower unit's attribution to the upper one on the dataset.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import networkx as nx
import torch
import torch.nn.functional as F

from visioncircuits.circuits.attribution import Inputs, get_method, iter_batches
from visioncircuits.circuits.config import METHODS as METHODS  # re-exported: the CLI reads it here
from visioncircuits.circuits.config import CircuitConfig
from visioncircuits.circuits.expanded import ExpandedWeights
from visioncircuits.circuits.prune import select
from visioncircuits.errors import InputError, unknown
from visioncircuits.hooks import HookedModel
from visioncircuits.keys import LOGITS, SAELayer, is_sae_layer, model_layer
from visioncircuits.unit_activations import resolve_unit
from visioncircuits.units import Unit

log = logging.getLogger(__name__)

LabelFn = Callable[[str, int], Optional[str]]  # (layer, index) -> label
VisFn = Callable[[str], Optional[str]]  # node key -> image path
KERNEL_MAX = 9


def node_key(unit: Unit) -> str:
    return str(Unit(unit.layer, unit.index, sae=unit.sae, kind=unit.kind))


def lower_chain(model, target: Unit, layers: Optional[Sequence[str]] = None) -> list[str]:
    """The layers below ``target``, nearest first: ``layers`` (default: the model's main
    layers) that run before the target's layer. Entries ``sae:DIR`` stand for that SAE's latents."""
    layers = list(layers if layers is not None else model.spec.main_layers)
    if not layers:
        raise InputError(f"{model.spec.name} has no main layers; pass layers=[...]")
    info = model.layer_info()
    under = {name: model_layer(name) for name in layers}
    for layer in under.values():
        if layer not in info:
            raise unknown(f"layer of {model.spec.name}", layer, list(info))
    if target.kind == "logit":
        below = layers
    else:
        top = info[target.layer].order
        below = [n for n in layers if info[under[n]].order < top]
    return sorted(below, key=lambda n: -info[under[n]].order)


def _kernel_summary(k: torch.Tensor, logits: bool) -> list:
    """A small spatial kernel for hover displays: the centre (at most 9x9), or for logits the
    map pooled to 5x5 (a global pool spreads weight evenly)."""
    if logits or k.shape[-1] > 3 * KERNEL_MAX:
        k = F.adaptive_avg_pool2d(k[None, None], min(5, k.shape[-1]))[0, 0]
    else:
        h, w = k.shape
        s = min(KERNEL_MAX, h, w)
        k = k[h // 2 - s // 2:h // 2 - s // 2 + s, w // 2 - s // 2:w // 2 - s // 2 + s]
    return [[round(float(v), 6) for v in row] for row in k]


class _Scorer:
    """Scores of every unit of a lower layer for a batch of upper units."""

    def __init__(self, model, method: str, dataset: Optional[Inputs], attribution: str, n_images: Optional[int],
                 crop, progress: bool):
        self.model, self.method, self.dataset = model, method, dataset
        self.attr_cls = get_method(attribution)
        self.n_images, self.crop, self.progress = n_images, crop, progress
        self.expander = ExpandedWeights(model, progress=progress) if method == "weights" else None

    def __call__(self, uppers: list[Unit], lower: str) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """(scores (R, L), kernels (R, L, kh, kw) or None) for upper units on one layer."""
        if self.method == "weights":
            return self._weights(uppers, lower)
        rows = []
        for u in uppers:
            s = self.attr_cls(self.model, u).attribute(
                self.dataset, [lower], limit=self.n_images, progress=self.progress
            )
            rows.append(s[lower])
        return torch.stack(rows), None

    def _weights(self, uppers: list[Unit], lower: str):
        upper_layer = uppers[0].layer or LOGITS
        if uppers[0].kind == "logit":
            units = [u.index for u in uppers]
        elif all(u.kind == "channel" and not u.has_position for u in uppers):
            units = [u.index for u in uppers]
        else:
            units = list(uppers)
        sae = None
        if is_sae_layer(lower):
            sae_layer = SAELayer.parse(lower)
            sae = sae_layer.load(self.model.device)
            lower = sae_layer.layer
        assert self.expander is not None  # method == 'weights'
        rows = self.expander.compute(lower, upper_layer, self.crop, units)  # (R, C, kh, kw)
        if sae is not None:  # latent j writes W_dec[j] / scale into the layer
            dec = (sae.W_dec / sae.input_scale).detach().to(rows.dtype)
            rows = torch.einsum("rchw,jc->rjhw", rows, dec)
        return rows.sum((2, 3)), rows


def build_circuit(model: HookedModel, target: Union[str, Unit], config: Optional[CircuitConfig] = None, *,
                  dataset: Optional[Inputs] = None, labels: Optional[LabelFn] = None,
                  vis: Optional[Union[VisFn, str, os.PathLike]] = None, held_out: Optional[Inputs] = None,
                  **kwargs) -> nx.DiGraph:
    """The circuit feeding ``target``: ``config.depth`` layers down, ``config.top_k`` inputs per node.

    Settings come from ``config`` (:class:`CircuitConfig`), overridden by keyword arguments
    named like its fields (``depth=``, ``top_k=``, ``method=`` ...). ``dataset`` (an image
    folder or a tensor) feeds ``method="attribution"`` and the node statistics.
    ``labels(layer, index)`` names units (ground truth on toy models); ``vis`` gives each
    node's visualisation path (a function of the node key, or a folder of
    ``<unit slug>.png``). With a dataset and ``config.stats``, nodes get the mean and max of
    their spatially averaged activation over it. With ``config.metrics`` and a dataset,
    ``graph.graph["metrics"]`` holds faithfulness, completeness, their random-circuit null and
    the faithfulness curve (:func:`~visioncircuits.circuits.metrics.graph_metrics`; measured on
    ``held_out`` images if given); otherwise it says ``"not computed"`` and why.

    Examples:
        >>> model = load_model("toy-convnet-s0")                                         # doctest: +SKIP
        >>> g = build_circuit(model, "logit:2", CircuitConfig(depth=2, top_k=3, rank="positive"))  # doctest: +SKIP
        >>> sorted(g.predecessors("logit:2"))                                          # doctest: +SKIP
        ['block3.relu2:5', 'block3.relu2:9', 'block3.relu2:14']
    """
    if isinstance(config, int) and not isinstance(config, bool):  # the old positional ``depth``
        kwargs["depth"], config = config, None
    cfg = CircuitConfig.resolve(config, **kwargs)
    method, depth, top_k, share, rank = cfg.method, cfg.depth, cfg.top_k, cfg.share, cfg.rank
    if method == "attribution" and dataset is None:
        raise InputError("method 'attribution' needs a dataset (an image folder or a tensor of images)")
    root = resolve_unit(model, target)
    chain = lower_chain(model, root, cfg.layers)
    if len(chain) < depth:
        log.info("only %d layers below %s; depth cut from %d", len(chain), root, depth)
    score = _Scorer(model, method, dataset, cfg.attribution, cfg.n_images, cfg.crop, cfg.progress)

    g = nx.DiGraph(
        model=model.spec.name,
        target=str(root),
        method=method,
        depth=depth,
        top_k=top_k,
        rank=rank,
        share=share if share is not None else "",
        attribution=cfg.attribution if method == "attribution" else "",
    )
    _add_node(g, model, root, 0, labels)
    frontier = [root]
    for d, lower in enumerate(chain[:depth], start=1):
        found: dict[str, Unit] = {}
        scores, kernels = score(frontier, lower)
        for r, upper in enumerate(frontier):
            for j in select(scores[r], top_k, share, rank):
                unit = _lower_unit(lower, j)
                key = node_key(unit)
                if key not in g:
                    _add_node(g, model, unit, d, labels)
                found[key] = unit
                s = float(scores[r, j])
                attrs = {"strength": s, "sign": 1 if s > 0 else -1, "weight": abs(s), "method": method}
                if kernels is not None:
                    attrs["kernel"] = _kernel_summary(kernels[r, j], upper.kind == "logit")
                g.add_edge(key, node_key(upper), **attrs)
        frontier = list(found.values())
        if not frontier:
            break
    if vis is not None:
        _attach_vis(g, vis)
    if cfg.stats and dataset is not None:
        node_stats(model, g, dataset, cfg.n_images)
    g.graph["metrics"] = _metrics(model, g, cfg, dataset, held_out)
    return g


def _metrics(model, g: nx.DiGraph, cfg: CircuitConfig, dataset, held_out) -> dict:
    from visioncircuits.circuits.metrics import graph_metrics, not_computed

    if cfg.metrics or dataset is None:
        return graph_metrics(model, g, cfg, dataset, held_out)
    return not_computed("not requested (CircuitConfig.metrics is off)")


def _lower_unit(lower: str, j: int) -> Unit:
    if is_sae_layer(lower):
        sae_layer = SAELayer.parse(lower)
        return Unit(sae_layer.layer, j, sae=sae_layer.sae, kind="sae")
    return Unit(lower, j)


def _add_node(g: nx.DiGraph, model, unit: Unit, depth: int, labels: Optional[LabelFn]) -> None:
    layer = str(LOGITS) if unit.kind == "logit" else unit.layer  # plain str: GraphML needs it
    label = None
    if unit.kind == "logit" and model.spec.class_names:
        label = str(model.spec.class_names[unit.index])
    elif labels is not None and unit.kind == "channel":
        label = labels(str(unit.layer), unit.index)
    g.add_node(node_key(unit), layer=layer, unit=unit.index, kind=unit.kind, depth=depth,
               label=label or "", sae=unit.sae or "", vis="")


def _attach_vis(g: nx.DiGraph, vis) -> None:
    if callable(vis):
        for n in g.nodes:
            g.nodes[n]["vis"] = str(vis(n) or "")
        return
    folder = Path(vis)
    for n in g.nodes:
        p = folder / f"{_parse(n).slug}.png"
        g.nodes[n]["vis"] = str(p) if p.exists() else ""


def _parse(key: str) -> Unit:
    from visioncircuits.units import parse_unit

    return parse_unit(key)


@torch.no_grad()
def node_stats(model, g: nx.DiGraph, dataset: Inputs, n_images: Optional[int] = 64) -> None:
    """Mean and max over images of every node's spatially averaged activation (in place)."""
    by_layer: dict[str, list[str]] = {}
    for n, d in g.nodes(data=True):
        by_layer.setdefault(d["layer"], []).append(n)
    units = {n: resolve_unit(model, n) for n in g.nodes}
    vals: dict[str, list[torch.Tensor]] = {n: [] for n in g.nodes}
    for batch in iter_batches(model, dataset, 32, n_images):
        cache = model.run_with_cache(batch, list(units.values()))  # one pass, to the logits only if needed
        for n, unit in units.items():
            m = cache[unit]
            vals[n].append((m if unit.kind == "logit" else m.mean((1, 2))).float().cpu())
    for n, v in vals.items():
        if v:
            t = torch.cat(v)
            g.nodes[n]["act_mean"] = float(t.mean())
            g.nodes[n]["act_max"] = float(t.max())
