"""Circuits on the toy zoo, checked against ground truth.

Every toy class is a composition of known primitives (``CLASS_PRIMITIVES``), and every unit
of a toy model's primitive layer has a ground-truth label (the primitive it is most
selective for). So a circuit method can be scored: for each class, are the strongest units
feeding the class logit (at the primitive layer, two main layers down) the ones labelled
with that class's own primitives? That is precision@k, reported per class and model.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional, Union

import torch

from visioncircuits.circuits.attribution import ActivationGradient
from visioncircuits.circuits.expanded import LOGITS, ExpandedWeights
from visioncircuits.circuits.prune import select
from visioncircuits.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class ClassPrecision:
    """Precision@k of one class: the top units at the primitive layer and their labels."""

    cls: str
    primitives: list
    units: list
    labels: list
    precision: float
    chance: float  # expected precision of k random units of the layer
    ceiling: float  # best possible: min(k, units labelled with a class primitive) / k


@dataclass
class ToyPrecision:
    model: str
    method: str
    k: Union[int, str]
    layer: str
    classes: list = field(default_factory=list)

    @property
    def mean(self) -> float:
        return sum(c.precision for c in self.classes) / max(1, len(self.classes))

    @property
    def chance(self) -> float:
        return sum(c.chance for c in self.classes) / max(1, len(self.classes))

    @property
    def ceiling(self) -> float:
        return sum(c.ceiling for c in self.classes) / max(1, len(self.classes))

    def as_row(self) -> dict:
        row = {"model": self.model, "method": self.method, "k": self.k}
        row.update({c.cls: round(c.precision, 3) for c in self.classes})
        row.update({"mean": round(self.mean, 3), "chance": round(self.chance, 3), "ceiling": round(self.ceiling, 3)})
        return row


def toy_labeller(model, n: int = 600, seed: Optional[int] = None):
    """``labels(layer, index)`` from :func:`visioncircuits.toyworld.labels.label_units`,
    computed once per layer; unconfident units get 'unclear (best: ...)'."""
    from visioncircuits.toyworld import labels as L

    cache: dict[str, dict[int, str]] = {}

    def labels(layer: str, index: int) -> Optional[str]:
        if layer not in cache:
            lab = L.label_units(model, layer, n=n) if seed is None else L.label_units(model, layer, n=n, seed=seed)
            cache[layer] = {
                u.index: (x.label if x.confident else f"unclear (best: {x.label})") for u, x in zip(lab.units, lab)
            }
        return cache[layer].get(index)

    return labels


def class_scores(model, layer: str, method: str = "weights", n_images: int = 64, seed: int = 7) -> torch.Tensor:
    """(classes, C) influence of every unit of ``layer`` on every class logit.

    ``weights``: the net expanded weight (data-free). ``attribution``: activation x gradient
    of the class logit, averaged over ``n_images`` generated images of that class.
    """
    n_cls = model.spec.num_classes
    if method == "weights":
        return ExpandedWeights(model).compute(layer, LOGITS).sum((2, 3))
    if method != "attribution":
        raise InputError(f"method must be 'weights' or 'attribution', got {method!r}")
    from visioncircuits.toyworld import generate

    rows = []
    for c in range(n_cls):
        data = generate(n_images, seed=seed + c, size=int(model.spec.input_size), classes=[c] * n_images)
        rows.append(ActivationGradient(model, f"logit:{c}").attribute(data.images, layer, batch_size=64)[layer])
    return torch.stack(rows)


LABELLINGS = ("scene", "isolated")


def unit_primitives(model, layer: str, labelling: str = "scene", n_label: int = 600) -> list[str]:
    """Each unit's ground-truth primitive: best ROC AUC on generated scenes (``scene``,
    :func:`~visioncircuits.toyworld.labels.label_units`) or on images holding one primitive
    alone (``isolated``, free of the co-occurrence of a class's parts)."""
    from visioncircuits.toyworld import PRIMITIVES
    from visioncircuits.toyworld.labels import isolated_selectivity, label_units

    if labelling == "scene":
        return [x.primitive for x in label_units(model, layer, n=n_label)]
    if labelling == "isolated":
        auc = isolated_selectivity(model, layer, per_primitive=max(4, n_label // len(PRIMITIVES)))
        return [PRIMITIVES[int(i)] for i in auc.argmax(1)]
    raise InputError(f"labelling must be one of {', '.join(LABELLINGS)}, got {labelling!r}")


def precision_at_k(scores: torch.Tensor, best: list[str], k: Union[int, str], layer: str, model: str = "",
                   method: str = "") -> ToyPrecision:
    """Precision@k per class from (classes, C) influence ``scores`` and unit labels ``best``.

    ``k="auto"`` uses each class's number of primitives (R-precision: a perfect circuit
    scores 1 when every primitive has one unit)."""
    from visioncircuits.toyworld import CLASS_PRIMITIVES, CLASSES

    if k != "auto" and (not isinstance(k, int) or isinstance(k, bool) or k < 1):
        raise InputError(f"k must be a positive integer or 'auto', got {k!r}")
    out = ToyPrecision(model, method, k, layer)
    for c, name in enumerate(CLASSES):
        prims = CLASS_PRIMITIVES[name]
        kc = len(prims) if k == "auto" else k
        top = select(scores[c], kc, rank="positive")
        hits = sum(best[j] in prims for j in top)
        n_true = sum(b in prims for b in best)
        out.classes.append(ClassPrecision(name, list(prims), [f"{layer}:{j}" for j in top], [best[j] for j in top],
                                          hits / max(1, len(top)), n_true / len(best), min(kc, n_true) / kc))
    return out


def class_primitive_precision(
    model,
    k: Union[int, str] = 3,
    method: str = "weights",
    n_label: int = 600,
    n_images: int = 64,
    layer: Optional[str] = None,
    labelling: str = "scene",
) -> ToyPrecision:
    """Precision@k per class: the share of the ``k`` units with the strongest excitatory
    influence on the class logit (at the primitive layer) whose ground-truth label is one of
    the class's primitives. ``chance`` and ``ceiling`` say what random units and a perfect
    ranking would get with these labels."""
    if model.spec.family != "toy":
        raise InputError(f"{model.spec.name} is not a toy-zoo model (toy-<arch>-s<seed>)")
    layer = layer or model.spec.extra["primitive_layer"]
    best = unit_primitives(model, layer, labelling, n_label)
    out = precision_at_k(class_scores(model, layer, method, n_images), best, k, layer, model.spec.name, method)
    log.info("%s %s precision@%d = %.3f", model.spec.name, method, k, out.mean)
    return out
