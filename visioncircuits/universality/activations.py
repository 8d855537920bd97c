"""Activations of several models on one probe set, streamed batch by batch.

Every model sees the same [0, 1] images; each is resized to the model's own input size and
normalised by the model itself (``HookedModel`` applies its preprocessing), and one forward
per batch per model collects all requested layers (``run_with_cache`` stops after the
deepest). Spatial maps are flattened (CKA), averaged (``pool``) or resized to a common
``grid`` so units of different layers and models are compared at the same image positions.
"""
from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from visioncircuits.errors import InputError
from visioncircuits.keys import SAELayer, is_sae_layer, model_layer
from visioncircuits.unit_activations import sae_config
from visioncircuits.units import Unit

if TYPE_CHECKING:
    from visioncircuits.hooks import HookedModel

log = logging.getLogger(__name__)

MODES = ("flatten", "pool", "grid")


def UnitRef(layer: str, channel: int) -> Unit:  # noqa: N802 - deprecated class name kept as a factory
    """Deprecated: universality uses :class:`visioncircuits.units.Unit` (``Unit(layer, channel)``)."""
    warnings.warn("UnitRef is deprecated; use visioncircuits.units.Unit(layer, index)", DeprecationWarning, stacklevel=2)
    return Unit(layer, int(channel))


def resolve_layers(model: HookedModel, layers: Union[str, Sequence[str], None]) -> list[str]:
    """``None``/"main" -> the model's main layers; "all" -> every hookable layer; else validated
    names. ``"sae:DIR"`` entries stand for that SAE's latents (on the layer it was trained on)."""
    if layers is None or layers == "main" or list(layers) == ["main"]:
        names = list(model.spec.main_layers) or model.layer_names()
    elif layers == "all" or list(layers) == ["all"]:
        names = model.layer_names()
    else:
        names = [layers] if isinstance(layers, str) else list(layers)
    for n in names:
        model.resolve_layer(model_layer(n))  # unknown -> clear error with closest names
    if not names:
        raise InputError(f"no layers selected for {model.spec.name}")
    order = model.layer_info()
    return sorted(dict.fromkeys(names), key=lambda n: order[model_layer(n)].order + (0.5 if is_sae_layer(n) else 0))


def layer_units(model: HookedModel, layers: Sequence[str]) -> list[Unit]:
    """Every unit of ``layers`` in order (channels, or an SAE layer's latents): the unit space
    that matching works in."""
    out: list[Unit] = []
    for layer in layers:
        if is_sae_layer(layer):
            sae = SAELayer.parse(layer)
            d_sae = int(sae_config(sae.sae).get("d_sae", 0))
            out.extend(Unit(sae.layer, j, sae=sae.sae, kind="sae") for j in range(d_sae))
        else:
            out.extend(Unit(layer, c) for c in range(model.channels(layer)))
    return out


unit_refs = layer_units  # the old name


def model_input(model, images: torch.Tensor) -> torch.Tensor:
    """The shared [0, 1] images on the model's device at the model's own input size."""
    images = images.to(model.device, non_blocking=True)
    size = int(model.spec.input_size)
    if images.shape[-1] != size or images.shape[-2] != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
    return images


def reduce_activation(act: torch.Tensor, mode: str, grid: int = 8) -> torch.Tensor:
    """(b, C, H, W) or (b, C) -> (b, C*H*W) for ``flatten``, (b, C) for ``pool``, (b, C, g, g) for ``grid``."""
    if mode not in MODES:
        raise InputError(f"unknown spatial mode '{mode}'; use one of {', '.join(MODES)}")
    act = act.float()
    if act.dim() == 2:
        act = act[:, :, None, None]
    if act.dim() != 4:
        raise InputError(f"expected a (N, C, H, W) or (N, C) activation, got shape {tuple(act.shape)}")
    if mode == "flatten":
        return act.flatten(1)
    if mode == "pool":
        return act.mean(dim=(2, 3))
    h, w = act.shape[-2:]
    if h == grid and w == grid:
        return act
    if h >= grid and w >= grid:
        return F.adaptive_avg_pool2d(act, grid)
    return F.interpolate(act, size=(grid, grid), mode="bilinear", align_corners=False)


def stream_activations(
    models: Mapping[str, object],
    layers: Mapping[str, Sequence[str]],
    batches: Iterable[torch.Tensor],
    mode: Optional[str] = "flatten",
    grid: int = 8,
    progress: bool = True,
    total: Optional[int] = None,
) -> Iterator[dict[str, dict[str, torch.Tensor]]]:
    """For each batch of [0, 1] images, ``{model_key: {layer: reduced activation}}``.

    ``batches`` yields (b, 3, H, W) tensors (or ``(ids, tensor)`` pairs); ``total`` is the
    number of batches, for the progress bar. ``mode=None`` yields the raw activations (to
    reduce several ways). Nothing is kept between batches.
    """
    if mode is not None and mode not in MODES:
        raise InputError(f"unknown spatial mode '{mode}'; use one of {', '.join(MODES)}")
    for key in models:
        if not layers.get(key):
            raise InputError(f"no layers given for model '{key}'")
    for batch in tqdm(batches, total=total, desc="activations", unit="batch", disable=not progress):
        images = batch[1] if isinstance(batch, (tuple, list)) else batch
        out: dict[str, dict[str, torch.Tensor]] = {}
        for key, model in models.items():
            acts = model.run_with_cache(model_input(model, images), list(layers[key]))
            out[key] = {layer: acts[layer] if mode is None else reduce_activation(acts[layer], mode, grid) for layer in layers[key]}
        yield out


def unit_maps(acts: Mapping[str, torch.Tensor], layers: Sequence[str]) -> torch.Tensor:
    """Concatenate grid-mode activations of ``layers`` along channels: the model's unit space."""
    return torch.cat([acts[layer] for layer in layers], dim=1)


def collect(
    models: Mapping[str, object], layers: Mapping[str, Sequence[str]], batches: Iterable[torch.Tensor], mode: str = "flatten", grid: int = 8, progress: bool = True
) -> dict[str, dict[str, torch.Tensor]]:
    """All activations in memory (small probe sets and tests only; reports stream)."""
    parts: dict[str, dict[str, list[torch.Tensor]]] = {k: {layer: [] for layer in layers[k]} for k in models}
    for out in stream_activations(models, layers, batches, mode, grid, progress):
        for k, d in out.items():
            for layer, t in d.items():
                parts[k][layer].append(t.cpu())
    return {k: {layer: torch.cat(ts) for layer, ts in d.items()} for k, d in parts.items()}
