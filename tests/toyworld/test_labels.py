"""Ground-truth labels: hand-set filters get the labels they must get; AUC maths; SAE-style units."""
import numpy as np
import pytest
import torch
from torch import nn

from visioncircuits.errors import InputError
from visioncircuits.hooks import HookedModel
from visioncircuits.toyworld import PRIMITIVES, generate
from visioncircuits.toyworld.labels import auc_matrix, label_units, monosemanticity, selectivity, unit_responses


class HandSet(nn.Module):
    """conv 11x11 with hand-set kernels: 0 = red detector, 1 = long dark vertical line, 2 = dead (always 0)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 11, padding=5)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        with torch.no_grad():
            w = torch.zeros(3, 3, 11, 11)
            w[0, :, 5, 5] = torch.tensor([1.0, -1.0, -0.5])  # R - G - B/2 at the centre pixel
            w[1, :, :, 5] = -1.0 / 3  # dark centre column, 11 pixels tall
            w[1, :, :, 3] = w[1, :, :, 7] = 0.5 / 3  # light columns either side
            self.conv.weight.copy_(w)
            self.conv.bias.copy_(torch.tensor([-0.35, -1.2, -1.0]))

    def forward(self, x):
        return self.flatten(self.pool(self.relu(self.conv(x))))


@pytest.fixture(scope="module")
def hand_model():
    return HookedModel.wrap(HandSet(), input_size=64, name="hand", num_classes=3)


@pytest.fixture(scope="module")
def data():
    return generate(500, seed=21)


def test_hand_set_filters_get_their_labels(hand_model, data):
    labs = label_units(hand_model, "relu", data=data)
    assert [lab.unit for lab in labs] == ["relu:0", "relu:1", "relu:2"]
    assert labs[0].primitive == "red_blob" and labs[0].label == "red blob" and labs[0].auc > 0.95
    assert labs[1].primitive == "line_90deg" and labs[1].auc > 0.8
    assert labs[2].auc == pytest.approx(0.5)  # a dead unit is at chance for everything
    assert labs[2].monosemanticity == 0.0 and not labs[2].confident
    assert labs.auc.shape == (3, len(PRIMITIVES))
    unit, auc = labs.best_unit("red_blob")
    assert unit.index == 0 and auc == labs[0].auc
    # the red detector is about red, not about, say, blue
    assert labs.auc[0, PRIMITIVES.index("blue_blob")] < 0.6


def test_selectivity_matches_labels_and_units_subset(hand_model, data):
    full = selectivity(hand_model, "relu", data=data)
    sub = label_units(hand_model, "relu", data=data, units=[1])
    assert np.allclose(sub.auc[0], full[1])
    by_address = label_units(hand_model, None, data=data, units=["relu:0"])
    assert np.allclose(by_address.auc[0], full[0])


def test_position_units_and_mean_reduce(hand_model, data):
    resp, us = unit_responses(hand_model, "relu", data.images[:8], units=["relu:0@32,32"])
    acts = hand_model.run_with_cache(data.images[:8], "relu")["relu"]
    assert np.allclose(resp[0], acts[:, 0, 32, 32].numpy())
    mean, _ = unit_responses(hand_model, "relu", data.images[:8], units=[0], reduce="mean")
    assert np.allclose(mean[0], acts[:, 0].mean((1, 2)).numpy(), atol=1e-6)


def test_auc_matrix_against_brute_force():
    rng = np.random.default_rng(0)
    r = rng.normal(size=(3, 40))
    r[0, :5] = 0.0  # ties
    pres = rng.random((40, 4)) < 0.4
    pres[:, 3] = False  # never present -> 0.5
    got = auc_matrix(r, pres)
    for u in range(3):
        for p in range(3):
            pos, neg = r[u, pres[:, p]], r[u, ~pres[:, p]]
            want = np.mean([(a > b) + 0.5 * (a == b) for a in pos for b in neg])
            assert got[u, p] == pytest.approx(want)
    assert np.all(got[:, 3] == 0.5)


def test_monosemanticity_score():
    auc = np.full((3, 4), 0.5)
    auc[0, 1] = 1.0  # one primitive only
    auc[1, :] = 0.8  # equally about all four
    assert monosemanticity(auc).tolist() == pytest.approx([1.0, 0.25, 0.0])


def test_bad_arguments(hand_model, data):
    with pytest.raises(InputError):
        unit_responses(hand_model, "relu", data.images[:2], reduce="median")
    with pytest.raises(InputError):
        label_units(hand_model, None, data=data)
    with pytest.raises(InputError):
        label_units(hand_model, "relu", data=data, units=[7])


def test_isolated_selectivity_of_hand_set_filters(hand_model):
    from visioncircuits.toyworld.labels import isolated_selectivity

    auc = isolated_selectivity(hand_model, "relu", per_primitive=6)
    assert auc.shape == (3, len(PRIMITIVES))
    assert PRIMITIVES[int(np.argmax(auc[0]))] == "red_blob" and auc[0].max() > 0.9
    mono = monosemanticity(auc)
    assert mono[0] > 0.3 and mono[2] == 0.0
