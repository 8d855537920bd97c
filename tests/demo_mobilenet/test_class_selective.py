"""Selecting units by the share of one class group among their top images."""

from __future__ import annotations

import torch

from visioncircuits.circuits.class_selective import group_shares, group_units, top_classes


def _values():
    # 40 images, labels 0..39; group = labels 0..9 (base rate 25%)
    g = torch.Generator().manual_seed(0)
    v = torch.rand(40, 3, generator=g)
    v[:10, 1] += 5.0  # unit 1: the group's 10 images come first
    v[:4, 2] += 5.0  # unit 2: 4 group images on top, then noise
    return v, list(range(40)), set(range(10))


def test_group_share_counts_group_images_among_the_top():
    v, labels, group = _values()
    s9 = group_shares(v, labels, group, 9)
    assert s9[1] == 1.0
    assert 4 / 9 <= float(s9[2]) < 1.0
    s20 = group_shares(v, labels, group, 20)
    assert abs(float(s20[1]) - 0.5) < 1e-6  # only 10 group images exist


def test_group_units_ranks_by_share_and_filters():
    v, labels, group = _values()
    top = group_units(v, labels, group, n=2)
    assert [u.unit for u in top] == [1, 2]
    assert top[0].top_images[:10] and set(top[0].top_images[:9]) <= group
    assert [u.unit for u in group_units(v, labels, group, n=3, min_share=0.99)] == [1]


def test_top_classes_names_the_top_images():
    v, labels, group = _values()
    names = [f"c{i}" for i in range(40)]
    d = top_classes(v, labels, names, 1, k=5, group=group)
    assert d["group_share"] == 1.0 and all(n in {f"c{i}" for i in range(10)} for n in d["top_classes"])
