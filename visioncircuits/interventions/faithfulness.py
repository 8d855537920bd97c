"""Circuit metrics by mean ablation: faithfulness, completeness and a random-circuit null.

A circuit is a set of units in some layers below a target (a unit or ``logit:C``). Every
measurement ``m`` is the target's mean over held-out images while some units of those layers
are mean-ablated (each replaced, position by position, by its mean over reference images):
``m(full)`` ablates nothing, ``m(empty)`` ablates every unit of the spanned layers,
``m(circuit)`` ablates every unit *outside* the circuit, ``m(full minus circuit)`` only the
circuit's units. Then, the usual definitions:

    faithfulness = (m(circuit) - m(empty)) / (m(full) - m(empty))
    completeness = (m(full) - m(full minus circuit)) / (m(full) - m(empty))

Faithfulness is 1 when the circuit alone keeps the whole change of the target away from its
all-ablated baseline and 0 when it keeps none of it; completeness is the share of that change
lost when the circuit alone is ablated. Both can leave [0, 1] (a circuit may overshoot, or hold
units that pull the other way) and are undefined (``nan``) when ablating everything barely
moves the target: pick held-out images that drive it (images of the class for a logit), with
reference means from a broader set. A random-circuit null (random unit sets of the same size
per layer) puts them in context.

Everything here is built on :func:`visioncircuits.interventions.ablation.ablate` (mean mode)
with the reference means computed once; held-out images are loaded once and run in batches.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import torch
from tqdm.auto import tqdm

from visioncircuits.errors import InputError
from visioncircuits.keys import SAELayer, is_sae_layer
from visioncircuits.unit_activations import resolve_unit, sae_config, unit_value
from visioncircuits.units import Unit

if TYPE_CHECKING:
    from visioncircuits.hooks import HookedModel
    from visioncircuits.interventions.ablation import MeanStore

log = logging.getLogger(__name__)

Index = Mapping[str, Sequence[int]]  # layer key ("layer" or "sae:DIR") -> unit indices
TargetFn = Callable[[torch.Tensor], torch.Tensor]  # images (N, 3, H, W) -> (N,)
DEFINITION = (
    "faithfulness = (m(circuit) - m(empty)) / (m(full) - m(empty)); "
    "completeness = (m(full) - m(full minus circuit)) / (m(full) - m(empty)); "
    "m = mean target over held-out images with the other units of the spanned layers mean-ablated"
)


def layer_size(model: HookedModel, key: str) -> int:
    """Units in a layer key: channels of a model layer, latents of ``sae:DIR``."""
    if is_sae_layer(key):
        return int(sae_config(SAELayer.parse(key).sae).d_sae)
    return int(model.resolve_layer(key).shape[0])


def key_unit(key: str, index: int) -> Unit:
    """The :class:`Unit` of index ``index`` in layer key ``key``."""
    if is_sae_layer(key):
        sae = SAELayer.parse(key)
        return Unit(sae.layer, int(index), sae=sae.sae, kind="sae")
    return Unit(key, int(index))


def unit_key(unit: Unit) -> str:
    return str(SAELayer(str(unit.sae))) if unit.kind == "sae" else str(unit.layer)


def group_units(model: HookedModel, units: Iterable[Union[Unit, str]]) -> dict[str, list[int]]:
    """``{layer key: sorted unit indices}`` of whole channels / latents (positions refused)."""
    out: dict[str, set[int]] = {}
    for u in units:
        unit = resolve_unit(model, u)
        if unit.kind == "logit":
            raise InputError(f"a circuit holds hidden units, not {unit}")
        if unit.has_position:
            raise InputError(f"circuit metrics ablate whole channels; drop the position of {unit}")
        out.setdefault(unit_key(unit), set()).add(unit.index)
    return {k: sorted(v) for k, v in out.items()}


def target_values(model: HookedModel, target: Union[str, Unit]) -> TargetFn:
    """images -> (N,) value of ``target`` (a logit, or a unit's spatial mean / position)."""
    unit = resolve_unit(model, target)
    if unit.kind == "logit":
        return lambda x: model(x)[:, unit.index]
    layer = str(unit.layer)
    return lambda x: unit_value(unit, model.run_with_cache(x, [layer])[layer])


def z_score(value: float, null: torch.Tensor) -> float:
    """(value - mean) / std of the null (nan when the null has no spread)."""
    null = null[torch.isfinite(null)].double()
    if null.numel() < 2 or not math.isfinite(value):
        return float("nan")
    sd = float(null.std())
    return (value - float(null.mean())) / sd if sd > 0 else float("nan")


class CircuitProbe:
    """Held-out images, reference means and a target, ready to measure many ablations.

    ``layers`` are the layer keys the circuits span (``"layer"``, ``"sae:DIR"``). ``groups``
    (N,) splits the images into groups measured separately; every result is then one number
    per group. ``target`` is a unit address or a function of the images giving (N,) values, or
    (N, K) of which each image reads column ``groups[i]`` (``target=model`` with class labels as
    groups: each class's images measured on its own logit, all in one pass).
    """

    def __init__(self, model: HookedModel, target: Union[str, Unit, TargetFn], images: torch.Tensor,
                 layers: Sequence[str], *, means: Optional[MeanStore] = None, reference: Optional[torch.Tensor] = None,
                 groups: Optional[torch.Tensor] = None, batch_size: int = 64, progress: bool = False):
        from visioncircuits.hooks import check_images
        from visioncircuits.interventions.ablation import reference_means

        if images.dim() != 4 or images.shape[0] == 0:
            raise InputError(f"held-out images must be a non-empty (N, 3, H, W) batch, got {tuple(images.shape)}")
        check_images(images)
        self.model, self.progress = model, progress
        self.layers = [str(k) for k in layers]
        if not self.layers:
            raise InputError("a circuit must span at least one layer")
        self.sizes = {k: layer_size(model, k) for k in self.layers}
        if not callable(target):
            self._check_below(target)
        self.fn: TargetFn = target if callable(target) else target_values(model, target)
        n = images.shape[0]
        groups = torch.zeros(n, dtype=torch.long) if groups is None else torch.as_tensor(groups).long().cpu()
        if groups.shape != (n,) or int(groups.min()) < 0:
            raise InputError(f"groups must be (N,) = ({n},) non-negative integers")
        self.n_groups = int(groups.max()) + 1
        self.counts = torch.bincount(groups, minlength=self.n_groups).double()
        self._batches = [(images[s:s + batch_size].to(model.device), groups[s:s + batch_size])
                         for s in range(0, n, batch_size)]
        if means is None:
            if reference is None:
                raise InputError("give reference images (or precomputed means) for mean ablation")
            means = reference_means(model, self.layers, reference, batch_size=batch_size)
        self.means = means
        self._full: Optional[torch.Tensor] = None
        self._empty: Optional[torch.Tensor] = None

    def _check_below(self, target) -> None:
        unit = resolve_unit(self.model, target)
        if unit.kind == "logit":
            return
        info = self.model.layer_info()
        top = info[str(unit.layer)].order
        for key in self.layers:
            layer = SAELayer.parse(key).layer if is_sae_layer(key) else key
            if info[layer].order >= top:
                raise InputError(f"circuit layer '{key}' must run before the target's layer '{unit.layer}'")

    @torch.no_grad()
    def values(self, ablated: Index) -> torch.Tensor:
        """(G,) mean target per group with the units ``ablated`` mean-ablated."""
        from visioncircuits.interventions.ablation import ablate

        units = [key_unit(k, j) for k, idx in ablated.items() for j in idx]
        sums = torch.zeros(self.n_groups, dtype=torch.float64)
        for x, groups in self._batches:
            if units:
                with ablate(self.model, units, "mean", means=self.means):
                    v = self.fn(x)
            else:
                v = self.fn(x)
            if v.dim() == 2:  # (N, K) from a target function: each image reads the column of its group
                v = v.gather(1, groups[:, None].to(v.device))[:, 0]
            sums.index_add_(0, groups, v.detach().double().cpu())
        return sums / self.counts

    @property
    def full(self) -> torch.Tensor:
        """(G,) the target with nothing ablated."""
        if self._full is None:
            self._full = self.values({})
        return self._full

    @property
    def empty(self) -> torch.Tensor:
        """(G,) the target with every unit of the spanned layers ablated (the empty circuit)."""
        if self._empty is None:
            self._empty = self.values({k: range(n) for k, n in self.sizes.items()})
        return self._empty

    @property
    def undefined(self) -> torch.Tensor:
        """(G,) True where ablating everything barely moves the target (metrics are nan there)."""
        return (self.full - self.empty).abs() <= 1e-6 * (self.full.abs() + self.empty.abs()) + 1e-12

    def _share(self, num: torch.Tensor) -> torch.Tensor:
        den = self.full - self.empty
        tiny = self.undefined
        if bool(tiny.any()):
            log.warning("ablating every unit of %s barely moves the target: metrics undefined (nan)", self.layers)
        return torch.where(tiny, torch.full_like(den, float("nan")), num / den)

    def complement(self, kept: Index) -> dict[str, list[int]]:
        """The units of the spanned layers not in ``kept``."""
        bad = sorted(set(kept) - set(self.sizes))
        if bad:
            raise InputError(f"circuit units in {bad} outside the spanned layers {self.layers}")
        return {k: sorted(set(range(n)) - {int(j) for j in kept.get(k, ())}) for k, n in self.sizes.items()}

    def faithfulness(self, kept: Index) -> torch.Tensor:
        """(G,) faithfulness of the circuit ``kept``: ``(m(kept) - m(empty)) / (m(full) - m(empty))``."""
        return self._share(self.values(self.complement(kept)) - self.empty)

    def completeness(self, circuit: Index) -> torch.Tensor:
        """(G,) completeness: ``(m(full) - m(full minus circuit)) / (m(full) - m(empty))``."""
        self.complement(circuit)  # checks the layers
        return self._share(self.full - self.values(circuit))

    def random_sets(self, sizes: Mapping[str, int], n: int, seed: int = 0) -> list[dict[str, list[int]]]:
        """``n`` random circuits with ``sizes[layer]`` units per layer (seeded, deterministic)."""
        gen = torch.Generator().manual_seed(int(seed))
        return [
            {k: sorted(torch.randperm(self.sizes[k], generator=gen)[: int(sizes.get(k, 0))].tolist())
             for k in self.layers}
            for _ in range(int(n))
        ]

    def random_null(self, sizes: Mapping[str, int], n: int = 100, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """(faithfulness (n, G), completeness (n, G)) of ``n`` random circuits of the same size per layer."""
        if n < 2:
            raise InputError(f"a random null needs at least 2 random circuits, got {n}")
        f, c = [], []
        for s in tqdm(self.random_sets(sizes, n, seed), desc="random circuits", disable=not self.progress,
                      leave=False):
            f.append(self.faithfulness(s))
            c.append(self.completeness(s))
        return torch.stack(f), torch.stack(c)


@dataclass
class CircuitMetrics:
    """Faithfulness, completeness, the random null and (if ranked) the faithfulness curve of one circuit."""

    target: str
    faithfulness: float
    completeness: float
    m_full: float
    m_empty: float
    sizes: dict  # layer -> [units in the circuit, units in the layer]
    n_images: int
    null: dict = field(default_factory=dict)
    curve: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    @property
    def share_of_units(self) -> float:
        return sum(k for k, _ in self.sizes.values()) / max(1, sum(n for _, n in self.sizes.values()))

    def to_dict(self) -> dict:
        """JSON-ready (nan -> None), as stored in ``circuit.json`` under ``graph.metrics``."""
        def clean(v: Any) -> Any:
            if isinstance(v, float):
                return round(v, 6) if math.isfinite(v) else None
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [clean(x) for x in v]
            return v

        return clean({
            "status": "computed",
            "definition": DEFINITION,
            "ablation": "mean",
            "target": self.target,
            "faithfulness": self.faithfulness,
            "completeness": self.completeness,
            "m_full": self.m_full,
            "m_empty": self.m_empty,
            "layers": {k: {"units": a, "of": b} for k, (a, b) in self.sizes.items()},
            "units": sum(a for a, _ in self.sizes.values()),
            "share_of_units": self.share_of_units,
            "n_images": self.n_images,
            "null": self.null,
            "curve": self.curve,
            "notes": self.notes,
        })


def null_summary(f: float, c: float, null_f: torch.Tensor, null_c: torch.Tensor, seed: int) -> dict:
    """Mean, std, z-score and one-sided empirical p-value of both metrics against their null."""
    def one(x: float, null: torch.Tensor) -> dict:
        ok = null[torch.isfinite(null)].double()
        p = (1 + int((ok >= x).sum())) / (ok.numel() + 1) if math.isfinite(x) else float("nan")
        return {"mean": float(ok.mean()) if ok.numel() else float("nan"),
                "std": float(ok.std()) if ok.numel() > 1 else float("nan"), "z": z_score(x, null), "p": p}

    return {"n": int(null_f.numel()), "seed": int(seed), "faithfulness": one(f, null_f),
            "completeness": one(c, null_c)}


def circuit_metrics(model: HookedModel, circuit, images: torch.Tensor, reference: Optional[torch.Tensor] = None, *,
                    target: Union[str, Unit, None] = None, means: Optional[MeanStore] = None,
                    layers: Optional[Sequence[str]] = None, n_null: int = 100, seed: int = 0,
                    scores: Optional[Mapping[str, torch.Tensor]] = None, rank: str = "abs",
                    fractions: Optional[Sequence[float]] = None, batch_size: int = 64,
                    progress: bool = False) -> CircuitMetrics:
    """Faithfulness and completeness of ``circuit`` for ``target`` on held-out ``images``,
    against ``n_null`` random circuits of the same size per layer (``n_null=0``: no null),
    and with ``scores`` (``{layer: (C,)}`` of the circuit's method) the faithfulness curve
    over the top-ranked fraction of each layer and its area (see the module docstring).

    ``circuit``: a graph from :func:`~visioncircuits.circuits.graph.build_circuit` (its
    non-target nodes; ``target`` defaults to the graph's) or an iterable of units. ``layers``:
    the spanned layers (default: those of the circuit's units). Mean ablation uses ``means``
    or the means over ``reference`` images.

    Examples:
        >>> m = circuit_metrics(model, graph, class_images, reference=mixed_images)   # doctest: +SKIP
        >>> round(m.faithfulness, 2), m.null["faithfulness"]["z"]                     # doctest: +SKIP
        (0.91, 7.4)
    """
    from visioncircuits.interventions.faithfulness_curve import DEFAULT_FRACTIONS, curve_summary

    units, target = circuit_units(circuit, target)
    kept = group_units(model, units)
    layers = list(layers) if layers is not None else list(kept)
    probe = CircuitProbe(model, target, images, layers, means=means, reference=reference, batch_size=batch_size,
                         progress=progress)
    f = float(probe.faithfulness(kept)[0])
    c = float(probe.completeness(kept)[0])
    sizes = {k: [len(kept.get(k, ())), n] for k, n in probe.sizes.items()}
    out = CircuitMetrics(str(resolve_unit(model, target)), f, c, float(probe.full[0]), float(probe.empty[0]), sizes,
                         int(images.shape[0]))
    if n_null:
        nf, nc = probe.random_null({k: a for k, (a, _) in sizes.items()}, n_null, seed)
        out.null = null_summary(f, c, nf[:, 0], nc[:, 0], seed)
    if scores is not None:
        out.curve = curve_summary(probe, scores, rank, fractions or DEFAULT_FRACTIONS)
    if not math.isfinite(f):
        out.notes.append("ablating every unit of the spanned layers barely moves the target on these images")
    return out


def circuit_units(circuit, target=None) -> tuple[list, Union[str, Unit]]:
    """(units, target) of a graph (its non-target nodes) or of an iterable of units."""
    import networkx as nx

    if isinstance(circuit, nx.DiGraph):
        target = target if target is not None else circuit.graph.get("target")
        units = [n for n in circuit.nodes if n != str(target) and circuit.nodes[n].get("kind") != "logit"]
    else:
        units = [circuit] if isinstance(circuit, (str, Unit)) else list(circuit)
    if target is None:
        raise InputError("give the circuit's target (a unit or logit:C)")
    if not units:
        raise InputError("the circuit has no units below its target")
    return units, target
