"""Ground truth for matches: do matched units carry the same label?

In the toy world every unit has a known label (the primitive it detects); a matching method
that finds real shared features pairs units with equal labels far more often than random
pairing would (chance = sum over labels of p_A(label) * p_B(label)).
"""
from __future__ import annotations

from collections import Counter
from typing import Mapping, Optional, Sequence

from visioncircuits.universality.matching import Match

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
