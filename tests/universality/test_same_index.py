"""The same-index baseline exposes unit-i-to-unit-i matches (shared init, supervised channel order)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from visioncircuits.universality.activations import UnitRef
from visioncircuits.universality.baselines import identity_pairs, same_index_baseline
from visioncircuits.universality.compare import CompareSettings, compare
from visioncircuits.universality.matching import match_units
from visioncircuits.universality.probes import TensorProbes


def _run(a, b):
    probes = TensorProbes(torch.rand(24, 3, 16, 16, generator=torch.Generator().manual_seed(3)))
    res = compare({"a": a, "b": b}, {"a": ["relu1", "relu2"], "b": ["relu1", "relu2"]}, probes, None,
                  CompareSettings(batch_size=8, grid=4, n_permutations=1, top_examples=0, progress=False))
    pr = res.pairs[0]
    return same_index_baseline(pr.matches, pr.corr, res.units["a"], res.layers["a"], res.units["b"], res.layers["b"])


def test_identical_models_match_every_unit_to_itself(model_pair):
    a = model_pair[0]
    twin = copy.deepcopy(a)
    out = _run(a, twin)
    assert out["identity_pairs"] == 10 and out["same_index"] == 10 and out["same_index_fraction"] == 1.0
    assert out["identity_mean_r"] == pytest.approx(1.0, abs=1e-6)
    # random pairing of 10 units of A with 10 of B: each finds its same-address partner with probability 1/10
    assert out["chance"] == pytest.approx(0.1)


def test_permuted_copy_exposes_only_its_fixed_points(model_pair):
    a, b, p1, p2, _ = model_pair
    out = _run(a, b)
    # the permutations fix no relu1 channel and one relu2 channel (p2[4] == 4): one same-index match of 10
    assert out["same_index"] == 1 and out["same_index_fraction"] == pytest.approx(0.1)
    assert out["same_index_by_layer"] == {"relu2": 1}
    assert out["matching_mean_r"] == pytest.approx(1.0, abs=1e-6)
    assert out["identity_mean_r"] < 0.9  # the identity pairing is a poor matching here


def test_chance_and_labels_on_hand_made_matrix():
    units_a = [UnitRef("x", i) for i in range(4)]
    units_b = [UnitRef("y", i) for i in range(5)]  # other layer names, same rank: addresses still comparable
    corr = np.eye(4, 5) * 0.9 + 0.01
    matches = match_units(corr)
    out = same_index_baseline(matches, corr, units_a, ["x"], units_b, ["y"], labels_a={0: "ring", 1: "dot", 2: None, 3: "box"},
                              labels_b={0: "ring", 1: "fur", 2: "dot", 3: "box", 4: "dot"}, top=2)
    assert identity_pairs(units_a, ["x"], units_b, ["y"]) == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert out["same_index"] == 4 and out["top"] == 2 and out["top_same_index"] == 2
    assert out["chance"] == pytest.approx(1 / 5)
    assert out["identity_mean_r"] == pytest.approx(0.91)
    assert out["identity_labelled"] == 3 and out["identity_same_label_fraction"] == pytest.approx(2 / 3)
