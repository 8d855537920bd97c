"""Ablation specificity on the toy zoo: do a class's own primitive units matter more than others?

Ground truth says which primitives build each class (``CLASS_PRIMITIVES``) and which units
of a toy model's primitive layer detect which primitive (by construction for the supervised
wide models; emerged, read off by :func:`~visioncircuits.toyworld.labels.label_units`, for
the others). Mean-ablating a class's own units should hurt that class's logit far more than
mean-ablating as many units of other primitives; the ratio of the two drops measures it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np
import torch

from visioncircuits.interventions.ablation import MeanStore, ablate, reference_means
from visioncircuits.toyworld.generate import generate
from visioncircuits.toyworld.labels import LABEL_SEED, label_units
from visioncircuits.toyworld.models import PRIMITIVE_CHANNELS
from visioncircuits.toyworld.primitives import PRIMITIVES
from visioncircuits.toyworld.scenes import CLASS_PRIMITIVES, CLASSES
from visioncircuits.units import Unit

if TYPE_CHECKING:
    from visioncircuits.hooks import HookedModel


def primitive_labels(model: HookedModel, layer: str, n_label: int = 1000, built_in: Optional[bool] = None
                     ) -> tuple[list[str], str]:
    """The primitive each channel of ``layer`` stands for, and where that came from.

    ``"construction"``: a supervised wide toy model's channel ``PRIMITIVE_CHANNELS[arch][p]``
    was trained to detect primitive ``p``. ``"emerged"``: the primitive with the best scene
    AUC on ``n_label`` labelling images. ``built_in=None`` picks construction when available.
    """
    extra = model.spec.extra or {}
    channels = PRIMITIVE_CHANNELS.get(str(extra.get("arch")))
    use_built_in = bool(extra.get("supervised")) and channels is not None if built_in is None else built_in
    if use_built_in and channels is not None and layer == extra.get("primitive_layer"):
        labels = [""] * model.channels(layer)
        for p, ch in enumerate(channels):
            labels[ch] = PRIMITIVES[p]
        return labels, "construction"
    return [lab.primitive for lab in label_units(model, layer, n=n_label, seed=LABEL_SEED)], "emerged"


@dataclass
class ClassSpecificity:
    """One class: logit drop and accuracy when its own units vs other units are mean-ablated.

    Drops are in standard deviations of the class logit over the reference images, so
    models with logits of any scale (a random initialisation's are tiny) compare.
    """

    cls: str
    own_units: list[int]
    drop_own: float
    drop_other: float
    logit_sd: float
    acc_clean: float
    acc_own: float
    acc_other: float


def _logit_and_acc(model: HookedModel, images: torch.Tensor, label: int) -> tuple[torch.Tensor, float]:
    with torch.no_grad():
        logits = model(images)
    return logits[:, label], float((logits.argmax(1) == label).float().mean())


def ablation_specificity(model: HookedModel, layer: str, labels: list[str], n_per_class: int = 64,
                         n_reference: int = 256, draws: int = 5, seed: int = 0) -> list[ClassSpecificity]:
    """Per class: mean drop of its logit on its own images when its units vs other units are ablated.

    Own units: channels labelled with one of the class's primitives. Other units: ``draws``
    random sets of as many channels labelled with other primitives (averaged). Mean
    ablation, means over ``n_reference`` balanced images of another seed. Classes with no
    own unit are left out.
    """
    size = int(model.spec.input_size)
    reference = generate(n_reference, seed=seed + 1, size=size).images.to(model.device)
    means: MeanStore = reference_means(model, [layer], reference)
    with torch.no_grad():
        sd = model(reference).std(0)
    rng = np.random.default_rng(seed)
    out = []
    for label, cls in enumerate(CLASSES):
        own = [c for c, p in enumerate(labels) if p in CLASS_PRIMITIVES[cls]]
        pool = [c for c, p in enumerate(labels) if p not in CLASS_PRIMITIVES[cls]]
        if not own or not pool:
            continue
        images = generate(n_per_class, seed=seed + 2 + label, size=size, classes=[label] * n_per_class).images
        images = images.to(model.device)
        clean, acc_clean = _logit_and_acc(model, images, label)
        with ablate(model, [Unit(layer, c) for c in own], "mean", means=means):
            own_logit, acc_own = _logit_and_acc(model, images, label)
        drops, accs = [], []
        for _ in range(draws):
            pick = rng.choice(pool, size=min(len(own), len(pool)), replace=False)
            with ablate(model, [Unit(layer, int(c)) for c in pick], "mean", means=means):
                logit, acc = _logit_and_acc(model, images, label)
            drops.append(float((clean - logit).mean()))
            accs.append(acc)
        scale = float(sd[label])
        out.append(ClassSpecificity(cls, own, float((clean - own_logit).mean()) / scale, float(np.mean(drops)) / scale,
                                    scale, acc_clean, acc_own, float(np.mean(accs))))
    return out


def ratio(own: float, other: float) -> Optional[float]:
    """own / other drop, defined only when both ablations hurt (else a sign flip reads as a ratio)."""
    return own / other if own > 0 and other > 0 else None


def summarise(rows: list[ClassSpecificity]) -> dict:
    """Means over classes, and the ratio of the mean drops (own / other)."""
    own = float(np.mean([r.drop_own for r in rows]))
    other = float(np.mean([r.drop_other for r in rows]))
    return {
        "classes": len(rows),
        "units_per_class": float(np.mean([len(r.own_units) for r in rows])),
        "drop_own": own,
        "drop_other": other,
        "ratio": ratio(own, other),
        "classes_own_gt_other": sum(r.drop_own > r.drop_other for r in rows),
        "acc_clean": float(np.mean([r.acc_clean for r in rows])),
        "acc_own": float(np.mean([r.acc_own for r in rows])),
        "acc_other": float(np.mean([r.acc_other for r in rows])),
        "per_class": [asdict(r) for r in rows],
    }
