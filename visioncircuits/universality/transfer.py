"""Stimulus transfer: does model A's picture of a feature drive model B's matched unit?

For a matched pair (a in A, b in B), the feature visualisation of a is shown to B; how
strongly it activates b, relative to B's own visualisation of b, is the transfer score
(1 = as good as B's own optimum, 0 = no better than an average probe image when the
probe mean is given as the baseline). Correlation says two units co-vary on natural
images; transfer says they respond to the same *optimal* stimulus, a stronger claim.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Optional, Sequence, Union

import torch

from visioncircuits.errors import InputError
from visioncircuits.unit_activations import resolve_unit, unit_value
from visioncircuits.units import Unit
from visioncircuits.universality.activations import model_input

if TYPE_CHECKING:
    from visioncircuits.hooks import HookedModel

log = logging.getLogger(__name__)


@dataclass
class TransferScore:
    unit_a: str
    unit_b: str
    b_on_vis_a: float  # B's unit b on A's visualisation of a
    b_on_vis_b: float  # B's unit b on its own visualisation
    a_on_vis_b: float
    a_on_vis_a: float
    transfer_ab: Optional[float]  # relative to B's own visualisation (baseline-corrected if given)
    transfer_ba: Optional[float]

    def to_dict(self) -> dict:
        return asdict(self)


def unit_values(model: HookedModel, units: Sequence[Union[str, Unit]], images: torch.Tensor) -> torch.Tensor:
    """``out[i, j]``: unit ``units[j]`` (channel or SAE latent; spatial mean, or its position)
    on image ``i``."""
    if images.dim() != 4 or images.shape[0] == 0:
        raise InputError(f"images must be a non-empty (N, 3, H, W) batch, got {tuple(images.shape)}")
    resolved = [resolve_unit(model, u) for u in units]
    acts = model.run_with_cache(model_input(model, images), resolved)
    return torch.stack([unit_value(u, acts[u.layer]) for u in resolved], dim=1).float().cpu()


def _relative(on_other: float, on_own: float, base: float) -> Optional[float]:
    denom = on_own - base
    if denom <= 1e-8 * max(1.0, abs(on_own)):
        return None  # own visualisation no better than baseline: the ratio means nothing
    return (on_other - base) / denom


def stimulus_transfer(
    model_a,
    model_b,
    pairs: Sequence[tuple[Unit, Unit]],
    vis_a: torch.Tensor,
    vis_b: torch.Tensor,
    baseline_a: Optional[Sequence[float]] = None,
    baseline_b: Optional[Sequence[float]] = None,
) -> list[TransferScore]:
    """Transfer scores for ``pairs``; ``vis_a[i]`` visualises ``pairs[i][0]`` in A, ``vis_b[i]`` ``pairs[i][1]`` in B.

    ``baseline_*[i]``: the unit's mean activation on probe images (0 if not given), so
    ``transfer_ab = (b(vis_a) - base_b) / (b(vis_b) - base_b)``; None where B's own
    visualisation does not beat the baseline.
    """
    n = len(pairs)
    if n == 0:
        return []
    if vis_a.shape[0] != n or vis_b.shape[0] != n:
        raise InputError(f"need one visualisation per pair on each side: {n} pairs, {vis_a.shape[0]} and {vis_b.shape[0]} images")
    base_a = list(baseline_a) if baseline_a is not None else [0.0] * n
    base_b = list(baseline_b) if baseline_b is not None else [0.0] * n
    if len(base_a) != n or len(base_b) != n:
        raise InputError("one baseline value per pair is needed")
    ua, ub = [p[0] for p in pairs], [p[1] for p in pairs]
    # each model sees every picture at its own input size (the pictures' sizes may differ)
    a_a, a_b = unit_values(model_a, ua, vis_a), unit_values(model_a, ua, vis_b)  # (n, n)
    b_a, b_b = unit_values(model_b, ub, vis_a), unit_values(model_b, ub, vis_b)
    out = []
    for i in range(n):
        a_on_a, a_on_b = float(a_a[i, i]), float(a_b[i, i])
        b_on_a, b_on_b = float(b_a[i, i]), float(b_b[i, i])
        out.append(TransferScore(
            unit_a=str(ua[i]), unit_b=str(ub[i]), b_on_vis_a=b_on_a, b_on_vis_b=b_on_b, a_on_vis_b=a_on_b, a_on_vis_a=a_on_a,
            transfer_ab=_relative(b_on_a, b_on_b, float(base_b[i])), transfer_ba=_relative(a_on_b, a_on_a, float(base_a[i])),
        ))
    return out
