"""Every unit of a layer scored by its influence on a target, by each circuit method.

A circuit graph keeps only the top inputs of each node; a faithfulness curve needs a full
ranking of every unit of the spanned layers. This scores each layer against the target
directly (not edge by edge): net expanded weights (data-free), the attribution methods of
:mod:`.attribution` on images, or attribution patching (first-order estimate of each unit's
mean-ablation effect, :mod:`visioncircuits.interventions.attribution_patching`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence, Union

import torch

from visioncircuits.circuits.attribution import ALIASES, METHODS, Inputs
from visioncircuits.errors import InputError, unknown
from visioncircuits.unit_activations import resolve_unit
from visioncircuits.units import Unit

if TYPE_CHECKING:
    from visioncircuits.hooks import HookedModel

SCORE_METHODS = ("weights", *METHODS, "attribution_patching")


def score_method(name: str) -> str:
    """The canonical name of a scoring method (aliases such as ``ig`` accepted)."""
    name = ALIASES.get(name, name)
    if name not in SCORE_METHODS:
        raise unknown("unit scoring method", name, list(SCORE_METHODS) + list(ALIASES))
    return name


def unit_scores(model: HookedModel, target: Union[str, Unit], layers: Sequence[str], method: str = "weights",
                images: Optional[Inputs] = None, *, n_images: Optional[int] = None,
                crop: Union[None, int, str] = "auto",
                reference: Optional[Inputs] = None, progress: bool = False) -> dict[str, torch.Tensor]:
    """``{layer: (C,)}`` influence of every unit of each layer on ``target``.

    ``weights``: the net expanded weight (kernel summed over positions), no images.
    ``activation_x_gradient`` / ``integrated_gradients`` / ``conductance``: attribution of the
    target, summed over positions and averaged over ``images`` (at most ``n_images``).
    ``attribution_patching`` (logit targets): minus the first-order estimate of how much patching
    each unit from a ``reference`` image into each of ``images`` changes the logit (pairs cycle
    through the reference images), i.e. how much the unit's activity on ``images``, compared
    with the reference images, raises the target.

    Examples:
        >>> s = unit_scores(model, "logit:1", ["relu4", "relu3"], "weights")   # doctest: +SKIP
        >>> s["relu3"].shape                                                    # doctest: +SKIP
        torch.Size([26])
    """
    from visioncircuits.circuits.graph import _Scorer

    method = score_method(method)
    unit = resolve_unit(model, target)
    layers = [str(x) for x in layers]
    if method == "weights":
        scorer = _Scorer(model, "weights", None, "activation_x_gradient", None, crop, progress)
        return {k: scorer([unit], k)[0][0].detach() for k in layers}
    if images is None:
        raise InputError(f"scoring units by {method} needs images")
    if method == "attribution_patching":
        if reference is None:
            raise InputError("scoring units by attribution_patching needs reference images")
        return _attribution_patching(model, unit, layers, images, n_images, reference)
    scorer = _Scorer(model, "attribution", images, method, n_images, crop, progress)
    return {k: scorer([unit], k)[0][0].detach() for k in layers}


def _attribution_patching(model, unit: Unit, layers: list[str], images, n_images, reference):
    from visioncircuits.circuits.attribution import iter_batches
    from visioncircuits.interventions.attribution_patching import attribution_patching
    from visioncircuits.interventions.faithfulness import layer_size
    from visioncircuits.interventions.patching import logit_metric

    if unit.kind != "logit":
        raise InputError(f"attribution patching scores units for a logit target (logit:C), not {unit}")
    clean = torch.cat(list(iter_batches(model, images, 64, n_images)))
    ref = torch.cat(list(iter_batches(model, reference, 64, None)))
    corrupted = ref[torch.arange(clean.shape[0]) % ref.shape[0]]
    est = attribution_patching(model, clean, corrupted, layers, logit_metric(unit.index))
    out = {}
    for k in layers:
        unit_of = (lambda j, k=k: f"{k}:{j}")
        out[k] = -torch.tensor([est[unit_of(j)] for j in range(layer_size(model, k))], dtype=torch.float64)
    return out
