"""Top-photo coherence on hand-made top-k class lists with a known answer."""
from __future__ import annotations

import pytest

from visioncircuits.featvis.class_coherence import coherence_summary, dog_share, top_group_share
from visioncircuits.zoo.imagenet_classes import DOG_CLASSES, imagenet_class_names
from visioncircuits.zoo.imagenet_groups import GROUPS, group_key, group_of


def test_groups_are_the_published_ranges_and_match_the_class_names():
    names = imagenet_class_names()
    assert GROUPS["dog"] == (DOG_CLASSES.start, DOG_CLASSES.stop - 1)
    assert names[151] == "Chihuahua" and names[268] == "Mexican hairless"
    assert names[281] == "tabby" and names[80] == "black grouse"
    assert group_of(150) is None and group_of(151) == "dog" and group_of(268) == "dog" and group_of(269) is None
    assert group_key(500) == "class:500"
    spans = sorted(GROUPS.values())
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))  # disjoint


def test_top_group_share_counts_the_largest_group():
    assert top_group_share([151, 160, 200, 268, 170, 180, 190, 152, 153]) == 1.0  # nine dog breeds
    assert top_group_share([151, 160, 200, 85, 90, 500, 501, 502, 503]) == pytest.approx(3 / 9)
    assert top_group_share([500, 500, 500, 501, 502, 503, 504, 505, 506]) == pytest.approx(3 / 9)  # one class x3
    assert top_group_share(list(range(600, 609))) == pytest.approx(1 / 9)  # nine unrelated classes


def test_dog_share_and_summary():
    assert dog_share([151, 268, 269, 150]) == 0.5
    s = coherence_summary([[151] * 9, [151] * 6 + [1, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]])
    assert s["units"] == 3
    assert s["dog_units"] == 2  # 9/9 and 6/9 reach the 2/3 threshold
    assert s["mean_dog_share"] == pytest.approx((1 + 6 / 9 + 0) / 3)
    assert s["mean_top_group_share"] == pytest.approx((1 + 6 / 9 + 1 / 9) / 3)
