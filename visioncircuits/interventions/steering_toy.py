"""Steering specificity on the toy world, where the answer is known.

Every toy class is built from known primitives (``CLASS_PRIMITIVES``), so steering a unit
labelled with a primitive should raise the logits of the classes built from it ("own"
classes) and not the others. :func:`primitive_units` says which units carry which primitive
(built in for the supervised wide models, measured by ROC AUC elsewhere) and
:func:`unit_specificity` measures one unit.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence

import torch

from visioncircuits.interventions.steering import linear_class_effect, steering_sweep

if TYPE_CHECKING:
    from visioncircuits.hooks import HookedModel


def own_classes(primitive: str) -> list[int]:
    """Indices of the toy classes built from ``primitive`` (empty for the 6 primitives no class uses)."""
    from visioncircuits.toyworld import CLASS_PRIMITIVES, CLASSES

    return [c for c, k in enumerate(CLASSES) if primitive in CLASS_PRIMITIVES[k]]


def primitive_units(model: HookedModel, layer: Optional[str] = None, n_label: int = 1000) -> tuple[list, str]:
    """([(channel, primitive)], how the labels came about) for the primitive layer of a toy model.

    Supervised wide models: each primitive's own channel ("built in": training fixed it).
    The narrow model ("by AUC, supervised layer": its layer is trained on primitives but in
    superposition) and the unsupervised zoo ("by AUC, emerged"): every unit whose best scene
    ROC AUC reaches the confidence bar of :mod:`visioncircuits.toyworld.labels`.
    """
    from visioncircuits.toyworld import PRIMITIVES
    from visioncircuits.toyworld.labels import label_units
    from visioncircuits.toyworld.models import PRIMITIVE_CHANNELS

    layer = layer or model.spec.extra["primitive_layer"]
    arch, supervised = model.spec.extra["arch"], bool(model.spec.extra["supervised"])
    channels = PRIMITIVE_CHANNELS[arch]
    if supervised and channels is not None and layer == model.spec.extra["primitive_layer"]:
        return [(int(c), p) for c, p in zip(channels, PRIMITIVES)], "built in"
    labels = label_units(model, layer, n=n_label)
    how = "by AUC, supervised layer" if supervised else "by AUC, emerged"
    return [(u.index, x.primitive) for u, x in zip(labels.units, labels) if x.confident], how


def unit_specificity(model: HookedModel, unit: str, primitive: str, alphas: Sequence[float], images: torch.Tensor,
                     rows: Optional[torch.Tensor] = None, batch_size: int = 128) -> dict:
    """Steer ``unit`` (labelled ``primitive``) at ``alphas`` x its peak on ``images``: per alpha the mean
    logit change of its own classes and of the others, the class gaining most, and the share of images
    whose top-1 moves into an own class. ``rows``: expanded weights of the unit's layer to the logits."""
    from visioncircuits.toyworld import CLASSES

    own = own_classes(primitive)
    effect = linear_class_effect(model, unit, rows=rows)
    res = steering_sweep(model, unit, alphas, images, batch_size=batch_size, effect=effect)
    mask = torch.zeros(len(CLASSES), dtype=torch.bool)
    mask[own] = True
    base = torch.tensor(res.baseline.top1)
    was_other = ~mask[base]
    out = {"unit": unit, "primitive": primitive, "own_classes": [CLASSES[c] for c in own], "peak": res.scale_value,
           "expanded_top_is_own": bool(mask[int(effect.argmax())]), "alphas": {}}
    for i, a in enumerate(alphas):
        delta = res.logit_change(i)
        after = torch.tensor(res.alphas[i].top1)
        out["alphas"][str(a)] = {
            "own_gain": float(delta[mask].mean()),
            "other_gain": float(delta[~mask].mean()),
            "top_gained": CLASSES[int(delta.argmax())],
            "top_gained_is_own": bool(mask[int(delta.argmax())]),
            "became_own": float(mask[after[was_other]].float().mean()) if was_other.any() else 0.0,
            "changed": res.alphas[i].changed,
        }
    return out
