"""Toy-world glue: toy images as probes and ground-truth unit labels for matches.

Kept apart so the rest of the package works on any models and image folders; only this
file knows about :mod:`visioncircuits.toyworld`.
"""
from __future__ import annotations

import logging
from typing import Optional, Sequence

from visioncircuits.errors import InputError
from visioncircuits.units import Unit
from visioncircuits.universality.probes import TensorProbes

log = logging.getLogger(__name__)

PROBE_SEED = 777_000_000  # toy images for universality: not the training, accuracy or labelling seeds


def toy_probes(n: int = 500, seed: int = PROBE_SEED, size: int = 64) -> TensorProbes:
    """``n`` generated toy-world images as a probe set."""
    from visioncircuits.toyworld import generate

    if n < 1:
        raise InputError(f"number of toy-world probe images must be positive, got {n}")
    return TensorProbes(generate(n, seed=seed, size=size).images, name="toy-world")


def toy_label_fn(n: int = 500, confident_only: bool = True, progress: bool = False):
    """A label function for :func:`run_universality`: each unit's best primitive (by AUC on
    ``n`` labelling images), or None below the labels module's confidence bar."""
    from visioncircuits.toyworld.generate import generate
    from visioncircuits.toyworld.labels import LABEL_SEED, label_units

    cache: dict[int, object] = {}

    def labels(name: str, model, units: Sequence[Unit]) -> dict[int, Optional[str]]:
        size = int(model.spec.input_size)
        if size not in cache:
            cache[size] = generate(n, seed=LABEL_SEED, size=size)
        data = cache[size]
        out: dict[int, Optional[str]] = {}
        by_layer: dict[str, list[int]] = {}
        for i, u in enumerate(units):
            if u.kind == "channel":  # ground truth labels channels; SAE latents stay unlabelled
                by_layer.setdefault(u.layer, []).append(i)
            else:
                out[i] = None
        for layer, idx in by_layer.items():
            labs = label_units(model, layer, units=[units[i].index for i in idx], data=data, progress=progress)
            for i, lab in zip(idx, labs):
                out[i] = lab.primitive if (lab.confident or not confident_only) else None
        log.info("%s: %d of %d units confidently labelled", name, sum(v is not None for v in out.values()), len(out))
        return out

    return labels
