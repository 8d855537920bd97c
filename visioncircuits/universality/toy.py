"""Toy-world glue: toy images as probes, ground-truth unit labels and label agreement of matches.

Merged from: ``labels``, ``toy`` (their old module paths still import).
"""
from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING, Mapping, Optional, Sequence

from visioncircuits.errors import InputError
from visioncircuits.units import Unit
from visioncircuits.universality.matching import Match
from visioncircuits.universality.probes import TensorProbes

if TYPE_CHECKING:
    from visioncircuits.toyworld.generate import ToyBatch

log = logging.getLogger(__name__)


# ------------------------------------------------------------ labels
UNLABELLED = (None, "", "none", "unlabelled", "dead")


def chance_agreement(labels_a: Sequence[str], labels_b: Sequence[str]) -> float:
    """Probability that a random pair of labelled units shares its label."""
    ca, cb = Counter(labels_a), Counter(labels_b)
    na, nb = sum(ca.values()), sum(cb.values())
    if not na or not nb:
        return 0.0
    return sum(ca[k] / na * cb.get(k, 0) / nb for k in ca)


def label_agreement(
    matches: Sequence[Match],
    labels_a: Mapping[int, Optional[str]],
    labels_b: Mapping[int, Optional[str]],
    top: int = 50,
) -> dict:
    """Fraction of the ``top`` strongest matches (among pairs where both units are labelled)
    whose labels agree, with the random-pairing chance level over the same labelled units."""
    labelled = [m for m in matches if labels_a.get(m.a) not in UNLABELLED and labels_b.get(m.b) not in UNLABELLED]
    chosen = labelled[:top]
    same = sum(labels_a[m.a] == labels_b[m.b] for m in chosen)
    la = [v for v in labels_a.values() if v not in UNLABELLED]
    lb = [v for v in labels_b.values() if v not in UNLABELLED]
    return {
        "top": top,
        "n": len(chosen),
        "same_label": int(same),
        "fraction": same / len(chosen) if chosen else 0.0,
        "chance": chance_agreement(la, lb),
        "pairs": [{"a": m.a, "b": m.b, "r": m.r, "label_a": labels_a[m.a], "label_b": labels_b[m.b]} for m in chosen],
    }


# ------------------------------------------------------------ toy
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

    cache: dict[int, ToyBatch] = {}

    def labels(name: str, model, units: Sequence[Unit]) -> dict[int, Optional[str]]:
        size = int(model.spec.input_size)
        if size not in cache:
            cache[size] = generate(n, seed=LABEL_SEED, size=size)
        data = cache[size]
        out: dict[int, Optional[str]] = {}
        by_layer: dict[str, list[int]] = {}
        for i, u in enumerate(units):
            if u.kind == "channel":  # ground truth labels channels; SAE latents stay unlabelled
                by_layer.setdefault(str(u.layer), []).append(i)
            else:
                out[i] = None
        for layer, idx in by_layer.items():
            labs = label_units(model, layer, units=[units[i].index for i in idx], data=data, progress=progress)
            for i, lab in zip(idx, labs):
                out[i] = lab.primitive if (lab.confident or not confident_only) else None
        log.info("%s: %d of %d units confidently labelled", name, sum(v is not None for v in out.values()), len(out))
        return out

    return labels
