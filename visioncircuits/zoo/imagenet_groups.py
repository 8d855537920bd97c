"""Coarse WordNet groups of the 1,000 ImageNet classes as index ranges (no network needed).

Why ranges: sorting the WordNet ids puts the hyponyms of many WordNet nodes into contiguous
blocks of the class index, so a supercategory is a range. The nine ranges below are the
"Restricted ImageNet" classes of Tsipras, Santurkar, Engstrom, Turner & Madry (2019),
"Robustness May Be at Odds with Accuracy", ICLR 2019, as published in MadryLab's
``robustness`` library (``robustness/tools/constants.py``, ``RESTRICTED_IMAGNET_RANGES``);
bounds are inclusive. The dog block equals ``imagenet_classes.DOG_CLASSES``. Classes in no
range are "ungrouped": each counts as a group of its own.
"""
from __future__ import annotations

from typing import Optional

# name: (first, last) class index, inclusive
GROUPS: dict[str, tuple[int, int]] = {
    "dog": (151, 268),
    "cat": (281, 285),
    "frog": (30, 32),
    "turtle": (33, 37),
    "bird": (80, 100),
    "monkey": (365, 382),
    "fish": (389, 397),
    "crab": (118, 121),
    "insect": (300, 319),
}


def group_of(index: int) -> Optional[str]:
    """The group holding class ``index``, or None for ungrouped classes."""
    for name, (lo, hi) in GROUPS.items():
        if lo <= index <= hi:
            return name
    return None


def group_key(index: int) -> str:
    """The group name, or ``"class:<index>"`` for an ungrouped class (a group of one)."""
    g = group_of(index)
    return g if g is not None else f"class:{index}"
