"""The 1,000 ImageNet classes in the standard index order: names, WordNet ids, dog classes.

Index ``i`` is the i-th WordNet id in sorted order (0 = tench ... 999 = toilet tissue), the
order of every 1000-way ImageNet classifier in the zoo (the TFLite "background" logit is
dropped) and of the sample photos ``<wnid>_<name>.jpg`` sorted by file name. The list ships
with the package (``imagenet_classes.tsv``), so nothing needs the network or ../shared.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

TSV = Path(__file__).with_name("imagenet_classes.tsv")

# The 118 dog breeds form one contiguous block (Chihuahua ... Mexican hairless).
DOG_CLASSES = range(151, 269)


@lru_cache(maxsize=1)
def _rows() -> tuple[tuple[str, str], ...]:
    rows = []
    for line in TSV.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            wnid, label = line.split("\t", 1)
            rows.append((wnid, label))
    if len(rows) != 1000:
        raise RuntimeError(f"{TSV} holds {len(rows)} classes, expected 1000 (damaged install?)")
    return tuple(rows)


def imagenet_wnids() -> tuple[str, ...]:
    """WordNet ids, e.g. ``n01440764`` for class 0."""
    return tuple(w for w, _ in _rows())


def imagenet_labels() -> tuple[str, ...]:
    """Full labels with synonyms, e.g. ``"tench, Tinca tinca"``."""
    return tuple(label for _, label in _rows())


def imagenet_class_names() -> tuple[str, ...]:
    """Short names (the first synonym), e.g. ``"tench"``. Not unique: ``crane`` (134 bird, 517
    machine) and ``maillot`` (638, 639) appear twice; use the index or wnid as the key."""
    return tuple(label.split(",")[0].strip() for _, label in _rows())


def is_dog(index: int) -> bool:
    """True for the 118 dog-breed classes (indices 151..268)."""
    return index in DOG_CLASSES


def class_index(key: str) -> int:
    """Index of a class given its wnid or its exact short name (first match for duplicates)."""
    from visioncircuits.errors import unknown

    wnids = imagenet_wnids()
    if key in wnids:
        return wnids.index(key)
    names = imagenet_class_names()
    if key in names:
        return names.index(key)
    raise unknown("ImageNet class", key, list(names))
