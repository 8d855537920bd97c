"""Interventions on the toy zoo at small scale, near the published numbers in results/interventions_toy.json."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from visioncircuits.interventions.toy_pairs import removal_pairs
from visioncircuits.interventions.toy_patching import patching_agreement, summarise_pairs
from visioncircuits.interventions.toy_specificity import ablation_specificity, primitive_labels, summarise
from visioncircuits.toyworld.scenes import CLASS_PRIMITIVES, CLASSES
from visioncircuits.zoo import load_model

RESULTS = Path(__file__).resolve().parents[2] / "results" / "interventions_toy.json"


def _published(model: str) -> dict:
    return json.loads(RESULTS.read_text())["values"]["models"][model]


def test_removal_pairs_take_out_one_part_of_the_class():
    for cls in CLASSES:
        pairs = removal_pairs(cls, 2, seed=5)
        assert pairs, cls
        for p in pairs:
            assert set(p.removed) <= set(CLASS_PRIMITIVES[cls]), (cls, p.removed)
            assert (p.clean - p.corrupted).abs().amax(dim=(1, 2, 3)).min() > 0.1  # every pair really differs
            assert torch.equal(p.clean, pairs[0].clean)  # same scenes for every part
    assert [p.removed for p in removal_pairs("dog_ear", 1, 0)] == [("brown_blob", "curve_90deg", "fur")]
    assert [p.removed for p in removal_pairs("beach", 1, 0)] == [("blue_blob", "freq_boundary")]


def test_built_in_labels_follow_the_supervised_channels():
    model = load_model("toy-inception-s0")
    labels, source = primitive_labels(model, "mixed3")
    assert source == "construction" and labels[0] == "red_blob" and labels[25] == "checker"
    assert sorted(labels) == sorted(set(labels)) and len(labels) == 26


def test_ablating_a_class_s_own_units_hurts_it_far_more_than_other_units():
    model = load_model("toy-vgg-s0")
    labels, _ = primitive_labels(model, "relu3")
    small = summarise(ablation_specificity(model, "relu3", labels, n_per_class=16, n_reference=64, draws=2, seed=3))
    published = _published("toy-vgg-s0")["specificity"]
    assert published["ratio"] > 10 and small["ratio"] > 10
    assert small["drop_own"] == pytest.approx(published["drop_own"], rel=0.3)
    assert small["acc_own"] < 0.6 < small["acc_other"]


def test_attribution_patching_ranks_toy_units_like_true_patching():
    model = load_model("toy-vgg-s0")
    labels, _ = primitive_labels(model, "relu3")
    classes = ["car", "tree", "ladybug"]
    rows = patching_agreement(model, "relu3", labels, n_pairs=4, seed=11, classes=classes)
    small = summarise_pairs(rows)
    published = {r["pair"]: r for r in _published("toy-vgg-s0")["patching"]["per_pair"]}
    assert small["pairs"] == 6 and all(r.pair in published for r in rows)
    expected = sum(published[r.pair]["spearman"] for r in rows) / len(rows)
    assert expected > 0.6
    assert small["spearman_mean"] == pytest.approx(expected, abs=0.15)
    assert small["top_true_hit"] > 4 * small["chance"]
