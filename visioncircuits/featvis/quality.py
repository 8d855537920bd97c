"""Does a rendering excite its unit more than the dataset does? One measure for both.

A card that prints the rendering's *spatial mean* next to the dataset's per-image *spatial
max* compares two different things. Here both images are scored the same way, by
``MEASURE``: the unit's **spatial maximum** over its map (for a unit with a fixed position,
its value there). We chose the maximum because that is how dataset examples are found and
ranked (:mod:`.dataset_examples`): an example is "the image where the unit fires most,
somewhere". A rendering "beats the dataset" when its spatial max exceeds the best dataset
image's spatial max.

``objective="neuron"`` renders the unit at the centre of its map (Lucid's neuron
objective) instead of its spatial mean (``"channel"``): a detector of a small, local
pattern (the toy world's primitives) cannot fire everywhere at once, so maximising its mean
can leave it at 0, while one position can be driven far past any dataset image.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from visioncircuits.errors import InputError
from visioncircuits.featvis import objectives as obj
from visioncircuits.unit_activations import resolve_unit, unit_map
from visioncircuits.units import Unit

log = logging.getLogger(__name__)

MEASURE = "spatial max"
OBJECTIVES = ("channel", "neuron")


def unit_peaks(model, units: Sequence[str | Unit], images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """(N images, U units): each unit's ``MEASURE`` on each image (spatial max, or its value
    at its own position when the address has one)."""
    resolved = [resolve_unit(model, u) for u in units]
    layers = sorted({str(u.layer) for u in resolved})
    out = []
    with torch.no_grad():
        for s in range(0, len(images), batch_size):
            acts = model.run_with_cache(images[s : s + batch_size].to(model.device), layers)
            cols = []
            for u in resolved:
                m = unit_map(u, acts[u.layer])
                cols.append(m[:, u.y, u.x] if u.has_position else m.flatten(1).amax(1))
            out.append(torch.stack(cols, 1).float().cpu())
    return torch.cat(out)


def render_target(model, address: str, objective: str = "channel", size: int | None = None):
    """What to optimise for unit ``address``: the unit itself (``"channel"``: spatial mean,
    or its own position) or its centre position (``"neuron"``)."""
    if objective not in OBJECTIVES:
        from visioncircuits.errors import unknown

        raise unknown("render objective", objective, list(OBJECTIVES))
    u = resolve_unit(model, address)
    if objective == "channel" or u.has_position or u.kind == "logit":
        return obj.as_objective(model, u)
    if u.kind == "channel":
        return obj.neuron(str(u.layer), u.index)
    h, w = model.layer_info(int(size or model.spec.input_size))[u.layer].shape[1:]
    return obj.as_objective(model, f"{address}@{h // 2},{w // 2}")


@dataclass
class QualityResult:
    """Per unit: the rendering's and the best dataset image's ``MEASURE``; summary share/ratio."""

    units: list
    render_peak: list
    best_example: list
    seconds: float
    settings: dict = field(default_factory=dict)

    @property
    def beats(self) -> list:
        return [r > b for r, b in zip(self.render_peak, self.best_example, strict=True)]

    @property
    def share(self) -> float:
        return sum(self.beats) / max(1, len(self.units))

    @property
    def ratios(self) -> list:
        # a unit silent on every dataset image: any response is infinitely more, silence is a tie
        return [
            r / b if b > 0 else (float("inf") if r > 0 else 1.0)
            for r, b in zip(self.render_peak, self.best_example, strict=True)
        ]

    @property
    def median_ratio(self) -> float:
        return float(statistics.median(self.ratios)) if self.units else float("nan")

    def to_dict(self) -> dict:
        return {
            "measure": MEASURE,
            "units": self.units,
            "render_peak": self.render_peak,
            "best_example": self.best_example,
            "beats": self.beats,
            "share_beating": self.share,
            "median_ratio": self.median_ratio,
            "seconds": self.seconds,
            "settings": self.settings,
        }


def render_quality(
    model,
    units: Sequence[str],
    images: torch.Tensor,
    *,
    objective: str = "neuron",
    steps: int = 64,
    size: int | None = None,
    seed: int = 0,
    param: str = "fft",
    param_kwargs: dict | None = None,
    redirect_relu: bool | int | float = True,
    transforms="default",
    lr: float | None = None,
    batch_size: int | None = None,
    progress: bool = False,
) -> QualityResult:
    """Render ``units`` and score each rendering and each of ``images`` by ``MEASURE``."""
    from visioncircuits.featvis.render import render

    if len(images) == 0:
        raise InputError("need at least one dataset image to compare with")
    units = [str(u) for u in units]
    size = int(size or model.spec.input_size)
    best = unit_peaks(model, units, images).amax(0)
    t0 = time.perf_counter()
    targets = [render_target(model, u, objective, size) for u in units]
    res = render(
        model,
        targets,
        steps=steps,
        size=size,
        seed=seed,
        param=param,
        param_kwargs=param_kwargs,
        redirect_relu=redirect_relu,
        transforms=transforms,
        lr=lr,
        batch_size=batch_size,
        progress=progress,
    )
    seconds = time.perf_counter() - t0
    peaks = unit_peaks(model, units, res.images)
    mine = [float(peaks[i, i]) for i in range(len(units))]
    settings = {
        "objective": objective,
        "steps": steps,
        "size": size,
        "seed": seed,
        "param": param,
        "param_kwargs": {k: v for k, v in (param_kwargs or {}).items() if isinstance(v, (int, float, str))},
        "redirect_relu_steps": res.redirect_steps,
        "n_images": len(images),
        "lr": lr,
        "transforms": transforms if isinstance(transforms, str) else repr(transforms),
    }
    return QualityResult(units, mine, [float(b) for b in best], seconds, settings)
