"""How coherent a unit's top dataset images are: the share of them from one WordNet group.

Why: "this latent is a dog detector" is a claim about its top images; counting how many of
the top-k come from one supercategory turns it into a number comparable across neurons, SAE
latents and random directions (the baseline: what a unit with no class preference gets).
Classes are ImageNet indices; groups come from ``zoo.imagenet_groups`` (ungrouped classes
count as groups of one). Photos must carry their class index, e.g. the sample folder's
``<wnid>_<name>.jpg`` names mapped through the sorted wnid list.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

from visioncircuits.zoo.imagenet_classes import DOG_CLASSES
from visioncircuits.zoo.imagenet_groups import group_key


def top_group_share(classes: Sequence[int]) -> float:
    """Share of ``classes`` (the top-k images' class indices) in their most common group."""
    if not classes:
        return float("nan")
    counts = Counter(group_key(int(c)) for c in classes)
    return max(counts.values()) / len(classes)


def dog_share(classes: Sequence[int]) -> float:
    """Share of ``classes`` that are one of the 118 dog breeds (indices 151..268)."""
    if not classes:
        return float("nan")
    return sum(int(c) in DOG_CLASSES for c in classes) / len(classes)


def coherence_summary(top_classes: Sequence[Sequence[int]], dog_unit_threshold: float = 2 / 3) -> dict:
    """Mean top-group share, mean dog share and the number of "dog units" (dog share >=
    ``dog_unit_threshold``) over units, each given as its top-k class indices."""
    groups = [top_group_share(c) for c in top_classes]
    dogs = [dog_share(c) for c in top_classes]
    n = len(groups)
    return {"units": n,
            "mean_top_group_share": sum(groups) / n if n else float("nan"),
            "mean_dog_share": sum(dogs) / n if n else float("nan"),
            "dog_units": sum(d >= dog_unit_threshold for d in dogs),
            "dog_unit_threshold": dog_unit_threshold}
