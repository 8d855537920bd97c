"""Ground-truth unit labels: how selective each unit is for each primitive of the toy world.

For every unit (a channel, a channel at a position, or an SAE latent: anything
:func:`visioncircuits.unit_activations.unit_map` understands) and every primitive, the
selectivity is the ROC AUC of the unit's per-image response (max over space by default,
or spatial mean) for images that contain the primitive versus images that do not, from the
generator's annotations. Its label is the primitive with the highest AUC, and its
monosemanticity is the share of its above-chance selectivity that falls on that primitive.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
import torch
from scipy.stats import rankdata
from tqdm.auto import tqdm

from visioncircuits.errors import InputError
from visioncircuits.toyworld.generate import ToyBatch, generate
from visioncircuits.toyworld.primitives import PRIMITIVES, readable
from visioncircuits.unit_activations import resolve_unit, unit_map
from visioncircuits.units import Unit

LABEL_SEED = 555_000_000  # images used for labelling: neither training nor accuracy seeds
CONFIDENT_AUC = 0.85
UnitsArg = Optional[Sequence[Union[int, str, Unit]]]


@dataclass
class UnitLabel:
    """One unit's ground truth: best primitive, its AUC, and how much of the unit is about it."""

    unit: str
    primitive: str
    label: str
    auc: float
    monosemanticity: float
    second: str
    second_auc: float

    @property
    def confident(self) -> bool:
        return self.auc >= CONFIDENT_AUC

    def describe(self) -> str:
        """'curve 45deg (AUC 0.97, mono 0.62)' or 'unclear (best: ...)' below the confidence bar."""
        core = f"{self.label} (AUC {self.auc:.2f}, mono {self.monosemanticity:.2f})"
        return core if self.confident else f"unclear (best: {core})"


class UnitLabels(list):
    """A list of :class:`UnitLabel` with the full (units x primitives) ``auc`` matrix."""

    def __init__(self, labels: Sequence[UnitLabel], auc: np.ndarray, units: list[Unit], reduce: str):
        super().__init__(labels)
        self.auc = auc
        self.units = units
        self.reduce = reduce
        self.primitives = list(PRIMITIVES)

    @property
    def monosemanticity(self) -> np.ndarray:
        return np.array([lab.monosemanticity for lab in self])

    def best_unit(self, primitive: str) -> tuple[Unit, float]:
        """The unit most selective for ``primitive`` and its AUC."""
        j = self.primitives.index(primitive)
        i = int(np.argmax(self.auc[:, j]))
        return self.units[i], float(self.auc[i, j])


def auc_matrix(responses: np.ndarray, present: np.ndarray) -> np.ndarray:
    """ROC AUC of every row of ``responses`` (U, N) against every column of ``present`` (N, P).

    Mann-Whitney from ranks (ties get average ranks); a primitive never (or always) present
    gets 0.5.
    """
    responses = np.asarray(responses, dtype=np.float64)
    pres = np.asarray(present, dtype=np.float64)
    n_pos = pres.sum(0)
    n_neg = pres.shape[0] - n_pos
    ranks = rankdata(responses, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (ranks @ pres - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    auc[:, (n_pos == 0) | (n_neg == 0)] = 0.5
    return auc


def monosemanticity(auc: np.ndarray) -> np.ndarray:
    """Share of a unit's above-chance selectivity on its best primitive: 1 = one primitive only.

    ``max_p e_p / sum_p e_p`` with ``e_p = max(AUC_p - 0.5, 0)``; a unit with no selectivity gets 0.
    """
    e = np.clip(np.asarray(auc) - 0.5, 0, None)
    tot = e.sum(1)
    return np.where(tot > 0, e.max(1) / np.where(tot > 0, tot, 1), 0.0)


def _units(model, layer: Optional[str], units: UnitsArg) -> tuple[str, list[Unit]]:
    if units is None:
        if layer is None:
            raise InputError("give a layer, or units (e.g. SAE latents) to label")
        return layer, [Unit(layer, i) for i in range(model.channels(layer))]
    out = []
    for u in units:
        if isinstance(u, (int, np.integer)):
            if layer is None:
                raise InputError("integer units need a layer")
            u = Unit(layer, int(u))
        out.append(resolve_unit(model, u))
    layers = {u.layer for u in out}
    if len(layers) != 1:
        raise InputError(f"all units must read the same layer, got {sorted(map(str, layers))}")
    if layer is not None and out[0].layer != layer:
        raise InputError(f"units read layer '{out[0].layer}', not '{layer}'")
    return out[0].layer, out


@torch.no_grad()
def unit_responses(model, layer: Optional[str], images: torch.Tensor, units: UnitsArg = None, reduce: str = "max",
                   batch: int = 200, progress: bool = False) -> tuple[np.ndarray, list[Unit]]:
    """(U, N) per-image responses of ``units`` (default: every channel of ``layer``).

    ``reduce``: "max" (max over space) or "mean" (spatial mean); a unit with a position
    uses its value at that position either way.
    """
    if reduce not in ("max", "mean"):
        raise InputError(f"reduce must be 'max' or 'mean', got {reduce!r}")
    layer, us = _units(model, layer, units)
    model.resolve_layer(layer)
    plain = all(u.kind == "channel" and not u.has_position for u in us)
    idx = torch.tensor([u.index for u in us])
    chunks = []
    for lo in tqdm(range(0, images.shape[0], batch), disable=not progress, desc="label", unit="batch"):
        x = images[lo : lo + batch].to(model.device)
        acts = model.run_with_cache(x, [layer])[layer]
        if acts.dim() == 2:
            acts = acts[:, :, None, None]
        if plain:
            sel = acts[:, idx.to(acts.device)]
            r = sel.amax(dim=(2, 3)) if reduce == "max" else sel.mean(dim=(2, 3))
        else:
            cols = []
            for u in us:
                m = unit_map(u, acts)
                cols.append(
                    m[:, u.y, u.x]
                    if u.has_position
                    else (m.amax(dim=(1, 2)) if reduce == "max" else m.mean(dim=(1, 2)))
                )
            r = torch.stack(cols, 1)
        chunks.append(r.float().cpu())
    return torch.cat(chunks).T.numpy(), us


def selectivity(model, layer: Optional[str], n: int = 1000, seed: int = LABEL_SEED, units: UnitsArg = None,
                reduce: str = "max", data: Optional[ToyBatch] = None, progress: bool = False) -> np.ndarray:
    """(units x primitives) AUC matrix (columns in ``PRIMITIVES`` order)."""
    data = data if data is not None else generate(n, seed=seed, size=int(model.spec.input_size))
    resp, _ = unit_responses(model, layer, data.images, units, reduce, progress=progress)
    return auc_matrix(resp, data.present.numpy())


def label_units(model, layer: Optional[str], n: int = 1000, seed: int = LABEL_SEED, units: UnitsArg = None,
                reduce: str = "max", data: Optional[ToyBatch] = None, progress: bool = False) -> UnitLabels:
    """Ground-truth label of every unit of ``layer`` (or of ``units``), from ``n`` generated images."""
    data = data if data is not None else generate(n, seed=seed, size=int(model.spec.input_size))
    resp, us = unit_responses(model, layer, data.images, units, reduce, progress=progress)
    auc = auc_matrix(resp, data.present.numpy())
    mono = monosemanticity(auc)
    labels = []
    for i, u in enumerate(us):
        order = np.argsort(-auc[i])
        best, second = int(order[0]), int(order[1])
        labels.append(
            UnitLabel(
                unit=str(u),
                primitive=PRIMITIVES[best],
                label=readable(PRIMITIVES[best]),
                auc=float(auc[i, best]),
                monosemanticity=float(mono[i]),
                second=PRIMITIVES[second],
                second_auc=float(auc[i, second]),
            )
        )
    return UnitLabels(labels, auc, us, reduce)


def isolated_selectivity(model, layer: Optional[str], per_primitive: int = 16, seed: int = 0, units: UnitsArg = None,
                         reduce: str = "max") -> np.ndarray:
    """(units x primitives) AUC on the ``primitive`` probe set: each image holds one primitive alone.

    In scenes, primitives co-occur (a face's ring comes with its dots), which spreads even a
    perfect ring detector's selectivity over the ring's companions; on isolated primitives
    it does not, so :func:`monosemanticity` of this matrix measures polysemanticity itself.
    """
    from visioncircuits.toyworld.probes import probe_set

    ps = probe_set("primitive", per_primitive=per_primitive, seed=seed, size=int(model.spec.input_size))
    present = np.array([[p == q for q in PRIMITIVES] for p in ps.primitive])
    resp, _ = unit_responses(model, layer, ps.images, units, reduce)
    return auc_matrix(resp, present)
