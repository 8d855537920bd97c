"""Feature steering: add ``alpha`` times a unit's direction at its layer and watch the classes move.

Why a direction rather than "set the unit": steering asks what the network does with *more*
of a feature, everything else kept. A channel's direction is its one-hot vector; an SAE
latent's is its decoder row in the layer's own units (``W_dec[i] / input_scale``, so adding
``a`` along it is exactly ``decode(z + a e_i) - decode(z)``: the SAE's error term is kept).
Every position of the layer's map is edited, or one position when the address names it
(``layer:c@y,x``).

Scale of ``alpha``: :func:`steer` takes it in raw activation units (the unit's own units:
channel activation, or latent activation for SAE latents). :func:`steering_sweep` defaults to
``scale="max"``: alpha is a multiple of the unit's **peak activation on the images steered**
(max over images and positions of its map, or at its position), so ``alpha = 1`` adds, at
every edited position, as much as the unit's strongest response on that dataset; ``"raw"``
or a number fixes the unit instead.

"The class the unit feeds most" comes from expanded weights (data-free): the linearised
model's map from the unit's layer to the logits, summed over the edited positions and
projected on the direction, is the first-order effect of steering per class
(:func:`linear_class_effect`); its argmax is the target class.
"""
from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Collection, Iterator, Mapping, Optional, Sequence, Union

import torch
from tqdm.auto import tqdm

from visioncircuits.errors import InputError
from visioncircuits.keys import LOGITS
from visioncircuits.unit_activations import get_sae, resolve_unit, unit_map
from visioncircuits.units import Unit

if TYPE_CHECKING:
    from visioncircuits.hooks import HookedModel

log = logging.getLogger(__name__)

Scale = Union[str, float]
SCALES = ("max", "raw")


def unit_direction(model: HookedModel, unit: Union[str, Unit]) -> tuple[Unit, torch.Tensor]:
    """(resolved unit, direction (C,) in the layer's space on the model's device).

    Channels: the one-hot vector. SAE latents: the decoder row divided by the SAE's
    ``input_scale`` (the latent's contribution per unit of latent activation).
    """
    unit = resolve_unit(model, unit)
    if unit.kind == "logit":
        raise InputError(f"cannot steer {unit}: steer a channel (LAYER:CHANNEL) or an SAE latent (sae:DIR:LATENT)")
    layer = str(unit.layer)
    n = model.channels(layer)
    if unit.kind == "sae":
        sae = get_sae(str(unit.sae), model.device)
        if sae.d_in != n:
            raise InputError(f"the SAE at {unit.sae} reads {sae.d_in} channels but layer '{layer}' has {n}")
        vec = (sae.W_dec[unit.index] / sae.input_scale).detach().float().clone()
    else:
        vec = torch.zeros(n, device=model.device)
        vec[unit.index] = 1.0
    return unit, vec


def _add(out: torch.Tensor, unit: Unit, vec: torch.Tensor, alpha: float) -> torch.Tensor:
    d = vec.to(device=out.device, dtype=out.dtype) * alpha
    if out.dim() == 2:
        return out + d[None]
    if out.dim() != 4:
        raise InputError(f"cannot steer layer '{unit.layer}' with output of shape {tuple(out.shape)}")
    if unit.has_position:
        delta = torch.zeros_like(out)
        delta[:, :, unit.y, unit.x] = d
        return out + delta
    return out + d[None, :, None, None]


@contextlib.contextmanager
def steer(model: HookedModel, unit: Union[str, Unit], alpha: float,
          direction: Optional[torch.Tensor] = None) -> Iterator[Unit]:
    """Inside the block, every forward pass of ``model`` adds ``alpha * direction`` at the unit's layer.

    ``alpha`` is in raw activation units (see the module docstring; :func:`steering_sweep`
    offers multiples of the unit's peak). ``direction`` overrides the unit's own (C,) vector.
    The hook is removed on exit, also on exceptions. Yields the resolved unit.

    Examples:
        >>> with steer(model, "blocks.15:48", alpha=5.0):          # doctest: +SKIP
        ...     logits = model(images)
    """
    if not math.isfinite(float(alpha)):
        raise InputError(f"alpha must be a finite number, got {alpha!r}")
    unit, vec = unit_direction(model, unit)
    if direction is not None:
        if direction.shape != vec.shape:
            raise InputError(f"direction must have shape {tuple(vec.shape)}, got {tuple(direction.shape)}")
        vec = direction
    a = float(alpha)

    def hook(out, _layer):
        return _add(out, unit, vec, a)

    with model.hooks([(str(unit.layer), hook)]):
        yield unit


def linear_class_effect(model: HookedModel, unit: Union[str, Unit], size: Optional[int] = None,
                        rows: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(classes,) first-order change of every logit per unit of ``alpha`` (raw), from expanded weights.

    ``rows``: precomputed ``ExpandedWeights(model, size).compute(layer, LOGITS)`` (classes, C, H, W),
    to reuse across the units of one layer.
    """
    from visioncircuits.circuits.expanded import ExpandedWeights

    unit, vec = unit_direction(model, unit)
    if rows is None:
        rows = ExpandedWeights(model, size=size).compute(str(unit.layer), LOGITS)
    vec = vec.to(rows.device, rows.dtype)
    if unit.has_position:
        return rows[:, :, unit.y, unit.x] @ vec
    return rows.sum((2, 3)) @ vec


@dataclass
class AlphaResult:
    """What one alpha does to the predictions, against the unsteered pass."""

    alpha: float
    raw_alpha: float
    top1: list[int]
    top1_prob: list[float]
    mean_logits: list[float]
    changed: float  # share of images whose top-1 class changed
    target_share: Optional[float]  # share whose top-1 is the target class
    became_target: Optional[float]  # among images whose top-1 was not the target: share that now is
    gained: list[dict] = field(default_factory=list)  # classes that won top-1 images: {class, index, before, after}
    lost: list[dict] = field(default_factory=list)
    group_shares: dict[str, float] = field(default_factory=dict)  # share of top-1 in each named class group
    became_group: dict[str, float] = field(default_factory=dict)  # among images not in the group before


@dataclass
class SteeringResult:
    """A steering sweep: per alpha, predictions and class shifts (``baseline`` is alpha = 0)."""

    model: str
    unit: str
    layer: str
    kind: str
    scale: str
    scale_value: float  # raw activation units per unit of alpha
    class_names: list[str]
    target: Optional[int]  # the class the unit feeds most by expanded weights
    effect: Optional[list[float]]  # first-order logit change per raw unit of alpha (expanded weights)
    n_images: int
    baseline: AlphaResult
    alphas: list[AlphaResult]
    image_ids: list[str] = field(default_factory=list)

    @property
    def target_name(self) -> Optional[str]:
        return None if self.target is None else self.class_names[self.target]

    def dose_response(self, classes: Sequence[int]) -> dict[int, list[tuple[float, float]]]:
        """{class: [(alpha, mean logit)] sorted by alpha, alpha 0 included}."""
        pts = sorted([self.baseline, *self.alphas], key=lambda r: r.alpha)
        return {c: [(r.alpha, r.mean_logits[c]) for r in pts] for c in classes}

    def logit_change(self, i: int) -> torch.Tensor:
        """(classes,) mean logit change at the i-th alpha against the unsteered pass."""
        return torch.tensor(self.alphas[i].mean_logits) - torch.tensor(self.baseline.mean_logits)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["target_name"] = self.target_name
        return d


def _check_alphas(alphas: Sequence[float]) -> list[float]:
    out = []
    for a in alphas:
        try:
            f = float(a)
        except (TypeError, ValueError):
            raise InputError(f"alpha must be a number, got {a!r}") from None
        if not math.isfinite(f):
            raise InputError(f"alpha must be a finite number, got {a!r}")
        out.append(f)
    if not out:
        raise InputError("give at least one alpha")
    return out


def _check_scale(scale: Scale) -> None:
    if isinstance(scale, str):
        if scale not in SCALES:
            raise InputError(f"scale must be one of {', '.join(SCALES)} or a positive number, got {scale!r}")
    elif isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (math.isfinite(scale) and scale > 0):
        raise InputError(f"scale must be one of {', '.join(SCALES)} or a positive number, got {scale!r}")


def _passes(model: HookedModel, images: torch.Tensor, batch_size: int, unit: Unit, vec: torch.Tensor,
            raw: Optional[float], want_peak: bool) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """(logits (N, K) on CPU, per-image unit peak (N,) or None) with the unit steered by ``raw`` (None: unsteered)."""
    logits, peaks = [], []
    ctx = steer(model, unit, raw, direction=vec) if raw is not None else contextlib.nullcontext()
    with ctx, torch.no_grad():
        for s in range(0, images.shape[0], batch_size):
            batch = images[s:s + batch_size].to(model.device)
            if want_peak:
                cache = model.run_with_cache(batch, [str(unit.layer), LOGITS])
                m = unit_map(unit, cache[str(unit.layer)])
                peaks.append((m[:, unit.y, unit.x] if unit.has_position else m.amax((1, 2))).float().cpu())
                assert cache.output is not None
                logits.append(cache.output.float().cpu())
            else:
                logits.append(model(batch).float().cpu())
    return torch.cat(logits), (torch.cat(peaks) if want_peak else None)


def _shifts(before: torch.Tensor, after: torch.Tensor, names: Sequence[str]) -> tuple[list[dict], list[dict]]:
    k = len(names)
    nb, na = torch.bincount(before, minlength=k), torch.bincount(after, minlength=k)
    diff = na - nb
    rows = [{"class": names[c], "index": c, "before": int(nb[c]), "after": int(na[c]), "delta": int(diff[c])}
            for c in range(k) if diff[c] != 0]
    gained = sorted((r for r in rows if r["delta"] > 0), key=lambda r: (-r["delta"], r["index"]))
    lost = sorted((r for r in rows if r["delta"] < 0), key=lambda r: (r["delta"], r["index"]))
    return gained, lost


def _summarise(alpha: float, raw: float, logits: torch.Tensor, base_top1: Optional[torch.Tensor],
               target: Optional[int], groups: Mapping[str, Collection[int]], names: Sequence[str]) -> AlphaResult:
    probs = logits.softmax(1)
    p, top1 = probs.max(1)
    before = top1 if base_top1 is None else base_top1
    gained, lost = _shifts(before, top1, names)
    target_share = became = None
    if target is not None:
        target_share = float((top1 == target).float().mean())
        was_not = before != target
        became = float((top1[was_not] == target).float().mean()) if was_not.any() else 0.0
    group_shares, became_group = {}, {}
    for gname, members in groups.items():
        mask = torch.tensor([c in members for c in range(len(names))])
        now, was = mask[top1], mask[before]
        group_shares[gname] = float(now.float().mean())
        became_group[gname] = float(now[~was].float().mean()) if (~was).any() else 0.0
    return AlphaResult(
        alpha=alpha, raw_alpha=raw, top1=top1.tolist(), top1_prob=[round(float(v), 4) for v in p],
        mean_logits=[float(v) for v in logits.mean(0)], changed=float((top1 != before).float().mean()),
        target_share=target_share, became_target=became, gained=gained, lost=lost,
        group_shares=group_shares, became_group=became_group,
    )


def steering_sweep(
    model: HookedModel,
    unit: Union[str, Unit],
    alphas: Sequence[float],
    images: torch.Tensor,
    *,
    scale: Scale = "max",
    batch_size: int = 64,
    effect: Union[str, torch.Tensor, None] = "expanded",
    groups: Optional[Mapping[str, Collection[int]]] = None,
    image_ids: Optional[Sequence[str]] = None,
    progress: bool = False,
) -> SteeringResult:
    """Steer ``unit`` at each alpha on ``images`` (N, 3, H, W in [0, 1]) and summarise the class shifts.

    ``scale``: ``"max"`` (alpha in multiples of the unit's peak on ``images``), ``"raw"``
    (activation units) or a positive number (raw units per alpha). ``effect``: ``"expanded"``
    computes the per-class first-order effect from expanded weights (its argmax is the target
    class), a (classes,) tensor gives it, None skips it. ``groups``: named class sets (e.g.
    ``{"dog": DOG_CLASSES}``) whose top-1 share is reported per alpha.

    Examples:
        >>> res = steering_sweep(model, "blocks.15:48", [0.5, 1, 2], images)   # doctest: +SKIP
        >>> [a.changed for a in res.alphas], res.target_name                     # doctest: +SKIP
    """
    alphas = _check_alphas(alphas)
    _check_scale(scale)
    if int(batch_size) < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[0] == 0:
        raise InputError("images must be a non-empty (N, 3, H, W) tensor")
    if image_ids is not None and len(image_ids) != images.shape[0]:
        raise InputError(f"{len(image_ids)} image ids for {images.shape[0]} images")
    unit, vec = unit_direction(model, unit)
    names = list(model.spec.class_names or [str(i) for i in range(model.spec.num_classes)])
    base, peaks = _passes(model, images, int(batch_size), unit, vec, None, want_peak=scale == "max")
    if len(names) != base.shape[1]:
        names = [str(i) for i in range(base.shape[1])]
    if scale == "max":
        assert peaks is not None
        scale_value = float(peaks.max())
        if not scale_value > 0:
            raise InputError(f"{unit} never activates above 0 on these images (peak {scale_value:.3g}); "
                             "steer with scale='raw' or a number instead")
    else:
        scale_value = 1.0 if scale == "raw" else float(scale)
    eff: Optional[torch.Tensor] = None
    if isinstance(effect, torch.Tensor):
        eff = effect.detach().float().cpu()
    elif effect == "expanded":
        h, w = images.shape[-2:]
        eff = linear_class_effect(model, unit, size=int(h) if h == w else None).float().cpu()
    elif effect is not None:
        raise InputError(f"effect must be 'expanded', a tensor of per-class effects or None, got {effect!r}")
    if eff is not None and eff.shape != (base.shape[1],):
        raise InputError(f"effect must have shape ({base.shape[1]},), got {tuple(eff.shape)}")
    target = int(eff.argmax()) if eff is not None else None
    groups = dict(groups or {})
    baseline = _summarise(0.0, 0.0, base, None, target, groups, names)
    base_top1 = torch.tensor(baseline.top1)
    results = []
    for a in tqdm(alphas, desc=f"steer {unit}", disable=not progress, leave=False):
        raw = a * scale_value
        logits, _ = _passes(model, images, int(batch_size), unit, vec, raw, want_peak=False)
        results.append(_summarise(a, raw, logits, base_top1, target, groups, names))
        log.info("%s alpha %g: %.0f%% of top-1 changed", unit, a, 100 * results[-1].changed)
    return SteeringResult(
        model=model.spec.name, unit=str(unit), layer=str(unit.layer), kind=unit.kind,
        scale=scale if isinstance(scale, str) else "fixed", scale_value=scale_value, class_names=names,
        target=target, effect=None if eff is None else [float(v) for v in eff], n_images=int(images.shape[0]),
        baseline=baseline, alphas=results, image_ids=list(image_ids or []),
    )
