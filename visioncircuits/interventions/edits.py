"""The one hook that edits units in a forward pass: channels directly, SAE latents through their SAE.

Why one hook per model layer: channel edits and the edits of any SAE reading that layer must
compose in a known order. SAE edits are computed from the layer's original output (each SAE
adds ``decode(z_edited) - decode(z)``, i.e. ``(z_edited - z) @ W_dec / input_scale``, so the
error term is kept and only the edited latents' contributions change); channel replacements
are applied last and win. Ablation and activation patching are both built on :func:`edit_hooks`.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Callable, Optional, Union

import torch

from visioncircuits.errors import InputError
from visioncircuits.keys import SAELayer, is_sae_layer
from visioncircuits.units import Unit

Value = Union[float, torch.Tensor]
"""A replacement: a number, a (H, W) map shared by all images, or (N, H, W) per image."""


@dataclass
class Edit:
    """Replace ``unit`` by ``value()`` (evaluated at forward time) in batch rows ``rows`` (all if None)."""

    unit: Unit
    value: Callable[[torch.Tensor], Value]  # called with the unit's space (N, C, H, W), returns the replacement
    rows: Optional[slice] = None


def _at(value: Value, unit: Unit, like: torch.Tensor) -> torch.Tensor:
    """The replacement as a tensor shaped like ``like`` (the edited slice), checked."""
    v = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if v.dim() >= 2 and unit.has_position:
        v = v[..., unit.y, unit.x]
    try:
        return v.expand_as(like)
    except RuntimeError:
        raise InputError(
            f"replacement for {unit} has shape {tuple(v.shape)} but the activation slice is {tuple(like.shape)} "
            "(reference means or source images of another size or batch?)"
        ) from None


def apply_edits(acts: torch.Tensor, edits: Iterable[Edit]) -> torch.Tensor:
    """A copy of ``acts`` (N, C, H, W) with every edit applied (differentiable in the kept parts).

    Whole-map edits of all rows are written in one indexed assignment (ablating hundreds of
    channels costs one copy, not hundreds); position and row-block edits follow, in order.
    """
    out = acts.clone()
    edits = list(edits)
    whole = [e for e in edits if e.rows is None and not e.unit.has_position]
    if whole:
        idx = torch.tensor([e.unit.index for e in whole], device=acts.device)
        like = acts[:, 0]
        out[:, idx] = torch.stack([_at(e.value(acts), e.unit, like) for e in whole], 1)
    for e in edits:
        if e.rows is None and not e.unit.has_position:
            continue
        rows = e.rows if e.rows is not None else slice(None)
        value = e.value(acts)
        if e.unit.has_position:
            like = out[rows, e.unit.index, e.unit.y, e.unit.x]
            out[rows, e.unit.index, e.unit.y, e.unit.x] = _at(value, e.unit, like)
        else:
            like = out[rows, e.unit.index]
            out[rows, e.unit.index] = _at(value, e.unit, like)
    return out


def sae_latents(sae, acts: torch.Tensor) -> torch.Tensor:
    """The SAE's latents (N, d_sae, H, W) for a layer activation (N, C, H, W)."""
    from visioncircuits.sae.models import flatten_positions, unflatten_positions

    if acts.shape[1] != sae.d_in:
        raise InputError(f"the SAE reads {sae.d_in} channels but layer '{sae.cfg.layer}' has {acts.shape[1]} "
                         f"(SAE trained on {sae.cfg.model})")
    return unflatten_positions(sae.encode(flatten_positions(acts.to(sae.W_enc.dtype))), acts.shape)


def sae_delta(sae, z_new: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``decode(z_new) - decode(z)`` as (N, d_in, H, W), computed without the decoder bias."""
    from visioncircuits.sae.models import flatten_positions, unflatten_positions

    flat = flatten_positions(z_new - z) @ sae.W_dec / sae.input_scale
    return unflatten_positions(flat, torch.Size((z.shape[0], sae.d_in, *z.shape[2:])))


def edit_hooks(model, edits: dict[str, list[Edit]]) -> list[tuple[str, Callable]]:
    """Forward hooks ``[(layer, fn)]`` applying ``edits`` (keyed by layer key: layer or ``"sae:DIR"``).

    Pass them to ``model.hooks(...)``; one hook per model layer.
    """
    by_layer: dict[str, tuple[list[Edit], list[tuple[SAELayer, list[Edit]]]]] = {}
    for key, items in edits.items():
        if is_sae_layer(key):
            sae_layer = SAELayer.parse(key)
            by_layer.setdefault(sae_layer.layer, ([], []))[1].append((sae_layer, items))
        else:
            by_layer.setdefault(key, ([], []))[0].extend(items)

    def make(channel_edits: list[Edit], sae_edits: list[tuple[SAELayer, list[Edit]]]):
        def hook(out: torch.Tensor, layer: str) -> torch.Tensor:
            if not isinstance(out, torch.Tensor):
                raise InputError(f"cannot edit layer '{layer}': its output is a {type(out).__name__}, not a tensor")
            flat = out.dim() == 2
            x = out[:, :, None, None] if flat else out
            new = x
            for sae_layer, items in sae_edits:
                sae = sae_layer.load(x.device)
                z = sae_latents(sae, x)
                new = new + sae_delta(sae, apply_edits(z, items), z).to(x.dtype)
            if channel_edits:
                new = apply_edits(new, channel_edits)
            return new[:, :, 0, 0] if flat else new

        return hook

    return [(layer, make(ch, sa)) for layer, (ch, sa) in by_layer.items()]
