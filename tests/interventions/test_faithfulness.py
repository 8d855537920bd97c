"""Circuit metrics on a hand-built model whose answers are known analytically.

``readout``: images in [0, 1] (no normalisation) -> ``feat`` (1x1 conv, 48 channels: channel c
copies colour c % 3, scaled by 1 + c / 48) -> ``relu`` -> global mean pool -> ``fc``, where
logit 0 = feat0 + feat2 and logit 1 = feat1 (no other channel is read). Everything after
``relu`` is linear, so mean-ablating channel c moves logit 0 by exactly its weight times
(its mean on the held-out images - its reference mean); the metrics follow by hand.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import pytest
import torch
from torch import nn

from visioncircuits.errors import InputError
from visioncircuits.hooks import HookedModel
from visioncircuits.interventions.faithfulness import CircuitProbe, circuit_metrics, z_score
from visioncircuits.interventions.faithfulness_curve import curve_auc, faithfulness_curve, ranking, top_units

C, SIZE = 48, 8
HELD = torch.tensor([0.8, 0.5, 0.4])  # colour of the held-out images
REF = torch.tensor([0.2, 0.3, 0.2])  # colour of the reference images


def make_readout() -> HookedModel:
    feat = nn.Conv2d(3, C, 1, bias=False)
    fc = nn.Linear(C, 2, bias=False)
    with torch.no_grad():
        feat.weight.zero_()
        for c in range(C):
            feat.weight[c, c % 3] = 1 + c / C
        fc.weight.zero_()
        fc.weight[0, 0] = fc.weight[0, 2] = 1.0
        fc.weight[1, 1] = 1.0
    net = nn.Sequential(OrderedDict(feat=feat, relu=nn.ReLU(), pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=fc))
    return HookedModel.wrap(net, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), input_size=SIZE, name="hand-readout",
                            main_layers=("relu",))


def flat_images(colour: torch.Tensor, n: int = 4) -> torch.Tensor:
    return colour[None, :, None, None].expand(n, 3, SIZE, SIZE).clone()


@pytest.fixture(autouse=True)
def one_thread():
    """Hundreds of tiny forward passes: one thread (two spin against each other on a loaded machine)."""
    from visioncircuits.device import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture
def model() -> HookedModel:
    return make_readout()


@pytest.fixture
def probe(model) -> CircuitProbe:
    return CircuitProbe(model, "logit:0", flat_images(HELD), ["relu"], reference=flat_images(REF))


def test_the_true_circuit_is_faithful_and_complete(probe):
    # m(full) = 0.8 + 0.4 * (1 + 2/48); m(empty) = the same with the reference colour
    d0, d2 = 0.8 - 0.2, (0.4 - 0.2) * (1 + 2 / C)
    assert float(probe.full[0] - probe.empty[0]) == pytest.approx(d0 + d2, rel=1e-5)
    assert float(probe.faithfulness({"relu": [0, 2]})[0]) == pytest.approx(1.0, abs=1e-5)
    assert float(probe.completeness({"relu": [0, 2]})[0]) == pytest.approx(1.0, abs=1e-5)
    assert float(probe.faithfulness({"relu": [1]})[0]) == pytest.approx(0.0, abs=1e-5)
    assert float(probe.completeness({"relu": [1, 5, 7]})[0]) == pytest.approx(0.0, abs=1e-5)
    # one of the two: its share of the change, by hand
    assert float(probe.faithfulness({"relu": [0]})[0]) == pytest.approx(d0 / (d0 + d2), rel=1e-4)
    assert float(probe.completeness({"relu": [2, 3]})[0]) == pytest.approx(d2 / (d0 + d2), rel=1e-4)


def test_circuit_metrics_of_units_and_the_random_null(model):
    m = circuit_metrics(model, ["relu:0", "relu:2"], flat_images(HELD), flat_images(REF), target="logit:0",
                        n_null=200, seed=3)
    assert m.faithfulness == pytest.approx(1.0, abs=1e-5) and m.completeness == pytest.approx(1.0, abs=1e-5)
    assert m.sizes == {"relu": [2, C]} and m.share_of_units == pytest.approx(2 / C)
    # a random pair keeps each channel with probability 2/48, so its expected faithfulness is 2/48
    null = m.null["faithfulness"]
    assert null["mean"] == pytest.approx(2 / C, abs=0.03)
    assert null["z"] > 4 and m.null["completeness"]["z"] > 4 and null["p"] < 0.01
    again = circuit_metrics(model, ["relu:0", "relu:2"], flat_images(HELD), flat_images(REF), target="logit:0",
                            n_null=200, seed=3)
    assert again.null == m.null  # seeded: deterministic
    d = m.to_dict()
    assert d["status"] == "computed" and d["faithfulness"] == 1.0 and "m(circuit) - m(empty)" in d["definition"]


def test_random_circuits_have_the_circuits_size_per_layer(probe):
    sets = probe.random_sets({"relu": 5}, 20, seed=1)
    assert all(len(s["relu"]) == 5 and len(set(s["relu"])) == 5 for s in sets)
    assert sets == probe.random_sets({"relu": 5}, 20, seed=1) != probe.random_sets({"relu": 5}, 20, seed=2)


def test_curve_is_monotone_for_the_right_ranking_and_flat_for_the_wrong_one(probe):
    right = torch.zeros(C)
    right[[0, 2]] = torch.tensor([2.0, 1.0])
    right[3:] = -torch.arange(C - 3, dtype=torch.float)  # the rest, in order
    fractions = [i / 10 for i in range(11)]
    good = faithfulness_curve(probe, {"relu": ranking(right, "positive")}, fractions)[:, 0]
    assert good[0] == 0 and float((good[1:] - 1).abs().max()) < 1e-5  # both kept from 10 % (4 units) on
    assert all(b >= a - 1e-6 for a, b in zip(good.tolist(), good[1:].tolist()))
    assert float(curve_auc(fractions, good)) == pytest.approx(0.95, abs=1e-4)
    bad = faithfulness_curve(probe, {"relu": ranking(-right, "positive")}, fractions)[:, 0]
    assert torch.all(bad[:-1].abs() < 1e-5) and float(curve_auc(fractions, bad)) == pytest.approx(0.05, abs=1e-4)
    assert top_units({"relu": ranking(right, "positive")}, 0.1) == {"relu": [0, 1, 2, 3]}  # 0, 2, then 1 (score 0)


def test_groups_measure_each_class_on_its_own_logit(model):
    held = torch.cat([flat_images(HELD), flat_images(torch.tensor([0.1, 0.9, 0.1]))])
    groups = torch.tensor([0] * 4 + [1] * 4)
    both = CircuitProbe(model, lambda x: model(x), held, ["relu"], reference=flat_images(REF), groups=groups)
    one = CircuitProbe(model, "logit:1", held[4:], ["relu"], reference=flat_images(REF))
    f = both.faithfulness({"relu": [1]})
    assert float(f[1]) == pytest.approx(float(one.faithfulness({"relu": [1]})[0]), abs=1e-6)
    assert float(f[1]) == pytest.approx(1.0, abs=1e-5) and float(f[0]) == pytest.approx(0.0, abs=1e-5)


def test_undefined_when_ablation_does_not_move_the_target(model):
    p = CircuitProbe(model, "logit:0", flat_images(REF), ["relu"], reference=flat_images(REF))
    assert math.isnan(float(p.faithfulness({"relu": [0, 2]})[0]))
    assert math.isnan(z_score(float("nan"), torch.rand(10))) and math.isnan(z_score(1.0, torch.ones(10)))


def test_bad_circuits_are_clear_errors(model):
    held, ref = flat_images(HELD), flat_images(REF)
    with pytest.raises(InputError, match="not logit"):
        circuit_metrics(model, ["logit:1"], held, ref, target="logit:0")
    with pytest.raises(InputError, match="whole channels"):
        circuit_metrics(model, ["relu:0@1,1"], held, ref, target="logit:0")
    with pytest.raises(InputError, match="reference"):
        circuit_metrics(model, ["relu:0"], held, target="logit:0")
    with pytest.raises(InputError, match="must run before"):
        circuit_metrics(model, ["relu:0"], held, ref, target="feat:1")
    with pytest.raises(InputError, match="at least 2"):
        circuit_metrics(model, ["relu:0"], held, ref, target="logit:0", n_null=1)
    assert model.hook_count() == 0


def test_build_circuit_stores_the_metrics_in_circuit_json_and_on_the_page(model, tmp_path):
    import json

    from visioncircuits.circuits.export import export_all
    from visioncircuits.circuits.graph import build_circuit

    g = build_circuit(model, "logit:0", depth=1, top_k=2, rank="positive", metrics=True, null_samples=50,
                      dataset=flat_images(REF), held_out=flat_images(HELD))
    assert sorted(g.predecessors("logit:0")) == ["relu:0", "relu:2"]
    m = g.graph["metrics"]
    assert m["status"] == "computed" and m["faithfulness"] == pytest.approx(1.0, abs=1e-5)
    assert m["completeness"] == pytest.approx(1.0, abs=1e-5) and m["null"]["faithfulness"]["z"] > 4
    # weights rank 0 and 2 first (weight 1, all others 0): the curve is 1 from 10 % on
    assert m["curve"]["method"] == "weights" and m["curve"]["auc"] == pytest.approx(0.95, abs=1e-4)
    assert m["images"] == {"reference": 4, "held_out": 4, "selection": "the held-out images given"}
    paths = export_all(g, tmp_path)
    saved = json.loads(paths["json"].read_text())["graph"]["metrics"]
    assert saved["faithfulness"] == pytest.approx(1.0, abs=1e-5) and saved["layers"] == {"relu": {"units": 2, "of": C}}
    html = paths["html"].read_text()
    assert 'id="metrics"' in html and "<b>1.000</b>" in html and "faithfulness-curve" in html
    assert "area under the curve <b>0.950</b>" in html
    assert "faithfulness" in paths["graphml"].read_text()  # as JSON text (GraphML holds scalars only)


@pytest.mark.parametrize("method", ["weights", "activation_x_gradient", "integrated_gradients",
                                    "attribution_patching"])
def test_every_ranking_method_puts_the_read_channels_first(model, method):
    from visioncircuits.circuits.unit_scores import unit_scores

    s = unit_scores(model, "logit:0", ["relu"], method, flat_images(HELD), reference=flat_images(REF))["relu"]
    assert s.shape == (C,) and sorted(ranking(s, "positive")[:2].tolist()) == [0, 2]
    assert float(s[[0, 2]].min()) > 0 and float(s[1].abs()) < 1e-6 and float(s[3:].abs().max()) < 1e-6
