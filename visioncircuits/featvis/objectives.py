"""Objectives: what a rendering maximises, with Lucid-style algebra.

An objective maps the cached activations of a batch, ``{layer: tensor}``, to one number per
image, shape (N,). They compose: ``channel("mixed4a", 476) - 0.5 * channel("mixed4a", 460)``,
``obj / 2``, ``sum(objs)``. Each declares ``layers``, the layers it reads, so rendering runs
the model only up to the deepest of them (``LOGITS`` means the full forward pass).

Unit-shaped objectives (channel, neuron, SAE latent, class logit) are :class:`UnitObjective`
and read their map through :func:`visioncircuits.unit_activations.unit_map`, so every unit
kind the rest of the tool knows can be visualised.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Optional, Sequence, Union

import torch
import torch.nn.functional as F

from visioncircuits.errors import InputError
from visioncircuits.keys import LOGITS, is_logits
from visioncircuits.unit_activations import resolve_unit, sae_config, unit_map
from visioncircuits.units import Unit

Acts = Mapping  # layer -> activation: a dict or an ActivationCache


class Objective:
    """Base class: ``obj(acts) -> (N,)``; supports ``+ - *`` by numbers, ``/`` and unary ``-``."""

    layers: frozenset = frozenset()
    name: str = "objective"

    def __call__(self, acts: Acts) -> torch.Tensor:
        raise NotImplementedError

    # -- algebra: everything becomes a flat weighted sum
    def _terms(self) -> list[tuple[float, Objective]]:
        return [(1.0, self)]

    def __add__(self, other):
        if isinstance(other, (int, float)) and other == 0:
            return self
        if not isinstance(other, Objective):
            return NotImplemented
        return WeightedSum(self._terms() + other._terms())

    def __radd__(self, other):  # sum() starts from 0
        if isinstance(other, (int, float)) and other == 0:
            return self
        return NotImplemented

    def __neg__(self):
        return WeightedSum([(-w, o) for w, o in self._terms()])

    def __sub__(self, other):
        if not isinstance(other, Objective):
            return NotImplemented
        return self + (-other)

    def __mul__(self, k):
        if not isinstance(k, (int, float)) or isinstance(k, bool):
            return NotImplemented
        return WeightedSum([(w * float(k), o) for w, o in self._terms()])

    __rmul__ = __mul__

    def __truediv__(self, k):
        if not isinstance(k, (int, float)) or isinstance(k, bool) or k == 0:
            raise InputError(f"objectives can only be divided by a non-zero number, got {k!r}")
        return self * (1.0 / k)

    def __repr__(self) -> str:
        return self.name


class WeightedSum(Objective):
    """``sum_k w_k * obj_k(acts)``; the result of any objective algebra."""

    def __init__(self, terms: Sequence[tuple[float, Objective]]):
        merged: dict[int, list] = {}
        for w, o in terms:  # merge repeated objects: a + a == 2 * a
            if id(o) in merged:
                merged[id(o)][0] += w
            else:
                merged[id(o)] = [w, o]
        self.terms = [(float(w), o) for w, o in merged.values() if w != 0]
        self.layers = frozenset().union(*(o.layers for _, o in self.terms)) if self.terms else frozenset()
        self.name = _format_sum(self.terms)

    def _terms(self):
        return list(self.terms)

    def __call__(self, acts):
        out = None
        for w, o in self.terms:
            v = o(acts) * w
            out = v if out is None else out + v
        if out is None:
            raise InputError("empty objective (all terms cancelled)")
        return out


def _format_sum(terms) -> str:
    parts = []
    for w, o in terms:
        s = o.name if w == 1 else (f"-{o.name}" if w == -1 else f"{w:g}*{o.name}")
        parts.append(s)
    return " + ".join(parts).replace("+ -", "- ") or "0"


class UnitObjective(Objective):
    """A unit's activation: at its position if it has one, else its spatial mean (``unit_value``).

    For ``logit`` units, the class logit (needs the full forward pass).
    """

    def __init__(self, unit: Unit):
        self.unit = unit
        if unit.kind == "logit":
            self.layers = frozenset([LOGITS])
        else:
            if unit.layer is None:
                raise InputError(f"unit {unit} has no layer; resolve it with resolve_unit(model, unit) first")
            self.layers = frozenset([unit.layer])
        self.name = str(unit)

    def __call__(self, acts):
        if self.unit.kind == "logit":
            return acts[LOGITS][:, self.unit.index]
        m = unit_map(self.unit, acts[self.unit.layer])
        if self.unit.has_position:
            return m[:, self.unit.y, self.unit.x]
        return m.mean(dim=(1, 2))


class CentreNeuron(Objective):
    """A channel at the centre of its map (whatever the map size is at render time)."""

    def __init__(self, layer: str, index: int):
        self.layer, self.index = layer, int(index)
        self.layers = frozenset([layer])
        self.name = f"{layer}:{index}@centre"

    def __call__(self, acts):
        a = acts[self.layer]
        if a.dim() == 2:
            return a[:, self.index]
        return a[:, self.index, a.shape[2] // 2, a.shape[3] // 2]


class Direction(Objective):
    """Projection of every position's channel vector onto a direction, averaged over positions.

    ``cosine=True`` uses cosine similarity instead (scale-free, as in Lucid's ``direction``).
    """

    def __init__(self, layer: str, vector, cosine: bool = False):
        v = torch.as_tensor(vector, dtype=torch.float32).flatten()
        if v.norm() == 0:
            raise InputError("direction vector must be non-zero")
        self.layer, self.vector, self.cosine = layer, v / v.norm(), cosine
        self.layers = frozenset([layer])
        self.name = f"{layer}:direction"

    def __call__(self, acts):
        a = acts[self.layer]
        if a.dim() == 2:
            a = a[:, :, None, None]
        if a.shape[1] != self.vector.numel():
            raise InputError(
                f"direction has {self.vector.numel()} entries but layer {self.layer} has {a.shape[1]} channels"
            )
        v = self.vector.to(a.device, a.dtype)
        if self.cosine:
            return F.cosine_similarity(a, v[None, :, None, None], dim=1, eps=1e-8).mean(dim=(1, 2))
        return torch.einsum("nchw,c->nhw", a, v).mean(dim=(1, 2))


class Diversity(Objective):
    """Lucid's diversity term, vectorised: each image's negative mean cosine similarity between
    its Gram matrix (channel correlations at ``layer``) and every other image's.

    Add it to a unit objective and render several images of one unit to get distinct facets.
    """

    def __init__(self, layer: str):
        self.layer = layer
        self.layers = frozenset([layer])
        self.name = f"diversity({layer})"

    def __call__(self, acts):
        a = acts[self.layer]
        n = a.shape[0]
        if n < 2:
            return a.new_zeros(n)
        flat = a.reshape(n, a.shape[1], -1)
        gram = torch.bmm(flat, flat.transpose(1, 2)).reshape(n, -1)
        gram = F.normalize(gram, dim=1, eps=1e-8)
        sim = gram @ gram.T
        off = sim.sum(1) - sim.diagonal()
        return -off / (n - 1)


# ---------------------------------------------------------------- constructors
def channel(layer: str, index: int) -> UnitObjective:
    """Mean activation of channel ``index`` of ``layer``."""
    return UnitObjective(Unit(layer=layer, index=int(index)))


def neuron(layer: str, index: int, y: Optional[int] = None, x: Optional[int] = None) -> Objective:
    """Channel ``index`` at one position (the centre of the map when ``y``/``x`` are None)."""
    if y is None or x is None:
        return CentreNeuron(layer, index)
    return UnitObjective(Unit(layer=layer, index=int(index), y=int(y), x=int(x)))


def direction(layer: str, vector, cosine: bool = False) -> Direction:
    return Direction(layer, vector, cosine)


def class_logit(index: int) -> UnitObjective:
    """The logit of class ``index`` (runs the whole network)."""
    return UnitObjective(Unit(layer=None, index=int(index), kind="logit"))


def diversity(layer: str) -> Diversity:
    return Diversity(layer)


def sae_latent(sae_dir: str, index: int, y: Optional[int] = None, x: Optional[int] = None) -> UnitObjective:
    """SAE latent ``index`` of the SAE saved in ``sae_dir`` (its layer comes from cfg.json)."""
    layer = sae_config(sae_dir).get("layer")
    return UnitObjective(Unit(layer=layer, index=int(index), y=y, x=x, sae=str(sae_dir), kind="sae"))


def as_objective(model, target: Union[str, Unit, Objective]) -> Objective:
    """A unit string / :class:`Unit` (validated against ``model``) or an objective (layers checked)."""
    if isinstance(target, Objective):
        for layer in target.layers:
            if not is_logits(layer):
                model.resolve_layer(layer)
        return target
    if isinstance(target, (str, Unit)):
        return UnitObjective(resolve_unit(model, target))
    raise InputError(f"cannot use {type(target).__name__} as an objective; give a unit string, a Unit or an Objective")


def needed_layers(objectives: Iterable[Objective]) -> frozenset:
    return frozenset().union(*(o.layers for o in objectives))
