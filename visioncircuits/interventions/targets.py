"""Which units an intervention touches: addresses resolved and grouped by the layer they edit.

Shared by ablation, patching and attribution patching so that every intervention accepts the
same things (``Unit`` objects, addresses ``"layer:c"``, ``"layer:c@y,x"``, ``"sae:DIR:i"``) and
reports the same errors. A *layer key* is the model layer name for channels and
``"sae:DIR"`` (``str(SAELayer)``) for SAE latents: latents live in their own space.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Union

from visioncircuits.errors import InputError
from visioncircuits.keys import SAELayer, is_sae_layer
from visioncircuits.unit_activations import resolve_unit, sae_config
from visioncircuits.units import Unit

if TYPE_CHECKING:
    from visioncircuits.hooks import HookedModel

UnitLike = Union[Unit, str]
_SAE_UNIT = re.compile(r"^sae:.+:-?\d+(?:@-?\d+,-?\d+)?$")  # "sae:DIR:LATENT[@Y,X]", not "sae:DIR"
Units = Iterable[UnitLike]


def is_sae_layer_name(item: object) -> bool:
    """``"sae:DIR"`` or an ``SAELayer`` (a whole SAE), as opposed to ``"sae:DIR:LATENT"`` (one latent)."""
    return isinstance(item, SAELayer) or (isinstance(item, str) and is_sae_layer(item) and not _SAE_UNIT.match(item))


def layer_key(unit: Unit) -> str:
    """The space a unit lives in: its model layer, or ``"sae:DIR"`` for an SAE latent."""
    return str(SAELayer(str(unit.sae))) if unit.kind == "sae" else str(unit.layer)


def resolve_units(model: HookedModel, units: Union[Units, UnitLike]) -> list[Unit]:
    """Parse and validate every unit (unknown layer or index out of range: a clear error).

    Logit units are refused: an intervention edits a hidden layer, not the output.
    """
    if isinstance(units, (str, Unit)):
        units = [units]
    out = []
    for u in units:
        if not isinstance(u, (str, Unit)):
            raise InputError(f"a unit must be a Unit or an address like 'layer:3' or 'sae:DIR:5', got {u!r}")
        unit = resolve_unit(model, u)
        if unit.kind == "logit":
            raise InputError(f"cannot intervene on {unit}: give a hidden unit (LAYER:C or sae:DIR:I), not a logit")
        out.append(unit)
    if not out:
        raise InputError("no units given to intervene on")
    return out


def group_by_key(units: Iterable[Unit]) -> dict[str, list[Unit]]:
    """Units grouped by layer key, in first-seen order."""
    groups: dict[str, list[Unit]] = {}
    for u in units:
        groups.setdefault(layer_key(u), []).append(u)
    return groups


def expand_targets(model: HookedModel, layers_or_units: Union[Iterable[UnitLike], UnitLike]) -> list[Unit]:
    """Layer names become all their channels, ``"sae:DIR"`` all its latents; unit addresses stay.

    Used where "every unit of these layers" is the natural request (attribution patching).
    """
    if isinstance(layers_or_units, (str, Unit)):
        layers_or_units = [layers_or_units]
    units: list[UnitLike] = []
    for item in layers_or_units:
        if isinstance(item, SAELayer) or (isinstance(item, str) and is_sae_layer_name(item)):
            sae = SAELayer.parse(item)
            d_sae = int(sae_config(sae.sae).d_sae)
            units.extend(Unit(layer=None, index=i, sae=sae.sae, kind="sae") for i in range(d_sae))
            continue
        if isinstance(item, str) and ":" not in item:
            n = model.resolve_layer(item).channels
            units.extend(Unit(layer=item, index=c) for c in range(n))
            continue
        units.append(item)
    return resolve_units(model, units)
