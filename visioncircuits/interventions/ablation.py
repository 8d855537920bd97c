"""Ablation: replace a set of units by zero, their mean over reference images, or another image's value.

A circuit graph claims which units matter; ablation tests the claim by removing them. Edits
are scoped with the model's hooks (removed in ``finally``) and touch only the named units:
a channel is overwritten at every position (or only at ``@y,x``), an SAE latent is edited
through its SAE with the error term kept (``out = x + decode(z_edited) - decode(z)``).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Literal, Optional, Union

import torch

from visioncircuits.errors import InputError
from visioncircuits.interventions.edits import Edit, edit_hooks
from visioncircuits.interventions.targets import (
    UnitLike,
    Units,
    group_by_key,
    is_sae_layer_name,
    layer_key,
    resolve_units,
)
from visioncircuits.keys import SAELayer
from visioncircuits.units import Unit

if TYPE_CHECKING:
    from visioncircuits.hooks import HookedModel

Mode = Literal["zero", "mean", "resample"]
MODES = ("zero", "mean", "resample")
Inputs = Union[torch.Tensor, Iterable[torch.Tensor]]


class MeanStore(dict):
    """Mean activation per layer key over reference images, kept per position.

    ``{layer_key: Tensor (C, H, W)}`` with ``layer_key`` a model layer name, or ``"sae:DIR"``
    for an SAE's latents (d_sae, H, W). ``n_images`` says how many images were averaged.
    Compute once with :func:`reference_means`, reuse for many ablations.
    """

    n_images: int = 0


def _keys_of(model: HookedModel, units_or_layers) -> list[str]:
    """Layer keys (model layer names and ``"sae:DIR"``) needed for these units or layers."""
    if isinstance(units_or_layers, (str, Unit, SAELayer)):
        units_or_layers = [units_or_layers]
    keys: list[str] = []
    for item in units_or_layers:
        if isinstance(item, SAELayer) or (isinstance(item, str) and is_sae_layer_name(item)):
            sae = SAELayer.parse(item)
            model.resolve_layer(sae.layer)
            keys.append(str(sae))
        elif isinstance(item, str) and ":" not in item:
            model.resolve_layer(item)
            keys.append(item)
        else:
            keys.append(layer_key(resolve_units(model, [item])[0]))
    if not keys:
        raise InputError("no units or layers given for reference means")
    return list(dict.fromkeys(keys))


def _batches(images: Inputs, batch_size: int) -> Iterator[torch.Tensor]:
    if isinstance(images, torch.Tensor):
        for i in range(0, images.shape[0], batch_size):
            yield images[i:i + batch_size]
    else:
        yield from images


def reference_means(model: HookedModel, units_or_layers, images: Inputs, batch_size: int = 64) -> MeanStore:
    """Mean activation of every unit of the layers behind ``units_or_layers`` over ``images``.

    ``units_or_layers``: units or addresses (their whole layer is averaged), layer names,
    or ``"sae:DIR"``. ``images``: (N, 3, H, W) in [0, 1], or an iterable of such batches.
    Means are per position, so they only apply to inputs of the same size.

    Examples:
        >>> means = reference_means(model, ["relu2:3"], images)      # doctest: +SKIP
        >>> means["relu2"].shape                                      # doctest: +SKIP
        torch.Size([6, 16, 16])
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    keys = _keys_of(model, units_or_layers)
    sums: dict[str, torch.Tensor] = {}
    n = 0
    for batch in _batches(images, batch_size):
        if batch.shape[0] == 0:
            continue
        cache = model.run_with_cache(batch.to(model.device), keys)
        for k in keys:
            a = cache[k]
            a = a[:, :, None, None] if a.dim() == 2 else a
            s = a.double().sum(0)
            sums[k] = sums[k] + s if k in sums else s
        n += batch.shape[0]
    if n == 0:
        raise InputError("reference_means needs at least one reference image")
    store = MeanStore({k: (v / n).float() for k, v in sums.items()})
    store.n_images = n
    return store


def _source_acts(model: HookedModel, keys: list[str], source: torch.Tensor) -> dict[str, torch.Tensor]:
    cache = model.run_with_cache(source.to(model.device), keys)
    return {k: (cache[k][:, :, None, None] if cache[k].dim() == 2 else cache[k]) for k in keys}


def _batch_value(src: torch.Tensor, key: str, c: int):
    """Replacement from per-image source activations; their batch must match the edited batch."""

    def value(acts: torch.Tensor) -> torch.Tensor:
        if src.shape[0] != acts.shape[0]:
            raise InputError(f"source images give {src.shape[0]} activations for '{key}' but the batch has "
                             f"{acts.shape[0]} images; pass as many source images as inputs")
        return src[:, c]

    return value


def _rolled_value(c: int):
    """Replacement from another image of the same batch (the batch rolled by one)."""

    def value(acts: torch.Tensor) -> torch.Tensor:
        if acts.shape[0] < 2:
            raise InputError("resample ablation without source images needs a batch of at least 2 images")
        return acts[:, c].roll(1, dims=0)

    return value


def _mean_value(means: MeanStore, key: str, c: int):
    if key not in means:
        raise InputError(f"the reference means have no entry for '{key}' (they cover: {', '.join(means) or 'none'})")
    m = means[key]

    def value(acts: torch.Tensor) -> torch.Tensor:
        if tuple(m.shape[1:]) != tuple(acts.shape[2:]):
            raise InputError(f"reference means for '{key}' are {tuple(m.shape[1:])} maps but the input gives "
                             f"{tuple(acts.shape[2:])}: compute them on images of the same size")
        return m[c]

    return value


def build_edits(model: HookedModel, units: Union[Units, UnitLike], mode: str = "mean", *,
                means: Optional[MeanStore] = None, reference: Optional[Inputs] = None,
                source: Optional[torch.Tensor] = None) -> dict[str, list[Edit]]:
    """The edits :func:`ablate` applies, by layer key (validated; runs the source/reference passes)."""
    if mode not in MODES:
        raise InputError(f"unknown ablation mode '{mode}'; choose from {', '.join(MODES)}")
    groups = group_by_key(resolve_units(model, units))
    if mode == "mean" and means is None:
        if reference is None:
            raise InputError("mean ablation needs means= (from reference_means) or reference= images")
        means = reference_means(model, list(groups), reference)
    src = _source_acts(model, list(groups), source) if (mode == "resample" and source is not None) else None
    edits: dict[str, list[Edit]] = {}
    for key, us in groups.items():
        for u in us:
            if mode == "zero":
                value = _zero
            elif mode == "mean":
                assert means is not None
                value = _mean_value(means, key, u.index)
            elif src is not None:
                value = _batch_value(src[key], key, u.index)
            else:
                value = _rolled_value(u.index)
            edits.setdefault(key, []).append(Edit(u, value))
    return edits


def _zero(_acts: torch.Tensor) -> float:
    return 0.0


@contextlib.contextmanager
def ablate(model: HookedModel, units: Union[Units, UnitLike], mode: Mode = "mean", *,
           means: Optional[MeanStore] = None, reference: Optional[Inputs] = None,
           source: Optional[torch.Tensor] = None) -> Iterator[None]:
    """Inside the block every forward pass of ``model`` has ``units`` replaced; nothing else changes.

    ``mode``: ``"zero"``; ``"mean"`` (the unit's per-position mean from ``means``, or computed
    here from ``reference`` images); ``"resample"`` (the unit's activation on ``source`` images,
    one per input image, computed once on entry with no edits; without ``source``, each image
    takes the activation of the previous image in its own batch, ``roll(1)``, which includes
    edits made in earlier layers). Units: ``Unit``s or addresses ``"layer:c"``,
    ``"layer:c@y,x"`` (that position only), ``"sae:DIR:i"`` (through the SAE, error term
    kept); several layers and SAEs at once. Hooks are removed on exit, also on errors.

    Examples:
        >>> with ablate(model, ["relu2:3", "relu2:5"], "zero"):     # doctest: +SKIP
        ...     logits = model(images)
        >>> means = reference_means(model, ["relu2"], reference_images)  # doctest: +SKIP
        >>> with ablate(model, ["relu2:3@4,4"], "mean", means=means):    # doctest: +SKIP
        ...     logits = model(images)
    """
    edits = build_edits(model, units, mode, means=means, reference=reference, source=source)
    with model.hooks(edit_hooks(model, edits)):
        yield
