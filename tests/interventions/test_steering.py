"""Steering on hand-built models whose logit shifts are known in closed form."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from visioncircuits.errors import InputError, VisionCircuitsError
from visioncircuits.hooks import HookedModel
from visioncircuits.interventions.steering import (
    linear_class_effect,
    steer,
    steering_sweep,
    unit_direction,
)
from visioncircuits.sae.io import save_sae
from visioncircuits.sae.models import SparseAutoencoder

H = 8  # map side of the steered layer


class Linearish(nn.Module):
    """conv (3->3, 1x1) -> relu -> global average pool -> fc (3->4): downstream of ``relu`` all linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(3, 4)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.conv.bias.zero_()
            self.fc.weight.copy_(torch.tensor([[1.0, 0.0, -2.0], [0.0, 3.0, 0.0], [0.5, 0.5, 0.5], [-1.0, 0.0, 4.0]]))
            self.fc.bias.copy_(torch.tensor([0.0, -1.0, 0.5, 0.0]))

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.relu(self.conv(x)))))


@pytest.fixture
def lin_model():
    return HookedModel.wrap(Linearish(), input_size=H, name="linearish", class_names=["a", "b", "c", "d"])


def images(n=5, seed=0):
    return torch.rand(n, 3, H, H, generator=torch.Generator().manual_seed(seed))


def test_channel_shift_is_alpha_times_weight(lin_model):
    x = images()
    base = lin_model(x)
    w = lin_model.net.fc.weight
    for c in range(3):
        for alpha in (0.5, -1.25, 3.0):
            with steer(lin_model, f"relu:{c}", alpha):
                out = lin_model(x)
            torch.testing.assert_close(out - base, (alpha * w[:, c]).expand_as(out), atol=1e-5, rtol=0)


def test_one_position_edits_only_that_position(lin_model):
    x = images()
    got = {}
    with steer(lin_model, "relu:1@2,5", 2.0):
        acts = lin_model.run_with_cache(x, ["relu"])["relu"]
        out = lin_model(x)
    ref = lin_model.run_with_cache(x, ["relu"])["relu"]
    diff = acts - ref
    got["changed"] = (diff != 0).nonzero().tolist()
    assert {tuple(i[1:]) for i in got["changed"]} == {(1, 2, 5)}
    assert torch.allclose(diff[:, 1, 2, 5], torch.full((5,), 2.0))
    # the pool averages H*H positions: one position moves the logits by alpha * w / H^2
    torch.testing.assert_close(out - lin_model(x), (2.0 * lin_model.net.fc.weight[:, 1] / H**2).expand(5, 4),
                               atol=1e-5, rtol=0)


def test_sae_latent_direction_is_its_decoder_row(lin_model, tmp_path):
    torch.manual_seed(0)
    sae = SparseAutoencoder(3, 5, "topk", k=2, cfg={"layer": "relu", "model": "linearish"})
    with torch.no_grad():
        sae.input_scale.fill_(0.5)
    save_sae(sae, tmp_path / "sae")
    unit, vec = unit_direction(lin_model, f"sae:{tmp_path / 'sae'}:3")
    assert unit.layer == "relu"
    torch.testing.assert_close(vec, sae.W_dec[3].detach() / 0.5)
    # adding a along the row is decode(z + a e_3) - decode(z): the SAE's error term is kept
    z = torch.zeros(1, 5)
    z3 = z.clone()
    z3[0, 3] = 1.5
    torch.testing.assert_close(1.5 * vec, (sae.decode(z3) - sae.decode(z))[0].detach())
    x = images()
    base = lin_model(x)
    with steer(lin_model, f"sae:{tmp_path / 'sae'}:3", 1.5):
        out = lin_model(x)
    torch.testing.assert_close(out - base, (1.5 * lin_model.net.fc.weight @ vec).expand_as(out), atol=1e-5, rtol=0)


def test_no_hook_leaks_also_on_errors(lin_model):
    n = lin_model.hook_count()
    with steer(lin_model, "relu:0", 1.0):
        assert lin_model.hook_count() == n + 1
    assert lin_model.hook_count() == n
    with pytest.raises(RuntimeError, match="boom"), steer(lin_model, "relu:0", 1.0):
        raise RuntimeError("boom")
    assert lin_model.hook_count() == n
    steering_sweep(lin_model, "relu:2", [1.0, 2.0], images(), effect=None)
    assert lin_model.hook_count() == n


def test_linear_class_effect_matches_the_weights(lin_model):
    # whole map: the pool's 1/H^2 times H^2 positions = the fc column; one position: 1/H^2 of it
    torch.testing.assert_close(linear_class_effect(lin_model, "relu:2"), lin_model.net.fc.weight[:, 2].detach(),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(linear_class_effect(lin_model, "relu:2@1,1"),
                               lin_model.net.fc.weight[:, 2].detach() / H**2, atol=1e-6, rtol=0)


def test_sweep_reports_shifts_target_and_dose_response(lin_model):
    x = images(6)
    res = steering_sweep(lin_model, "relu:2", [1.0, 4.0], x, scale="raw")
    w = lin_model.net.fc.weight[:, 2].detach()
    assert res.target == 3 and res.target_name == "d"  # fc column 2 = (-2, 0, 0.5, 4): class d gains most
    assert res.scale_value == 1.0 and [a.raw_alpha for a in res.alphas] == [1.0, 4.0]
    for i, a in enumerate((1.0, 4.0)):
        torch.testing.assert_close(res.logit_change(i), a * w, atol=1e-5, rtol=0)
    big = res.alphas[1]
    assert big.target_share == 1.0  # +16 on d's logit beats every other class on these images
    assert big.gained and big.gained[0]["class"] == "d" and big.gained[0]["after"] == 6
    assert sum(r["delta"] for r in big.gained) == -sum(r["delta"] for r in big.lost)
    curves = res.dose_response([3])
    assert [p[0] for p in curves[3]] == [0.0, 1.0, 4.0]
    assert curves[3][2][1] - curves[3][0][1] == pytest.approx(4 * float(w[3]), abs=1e-4)
    d = res.to_dict()
    assert d["target_name"] == "d" and d["alphas"][1]["target_share"] == 1.0


def test_scale_max_is_the_units_peak(lin_model):
    x = images(4)
    res = steering_sweep(lin_model, "relu:0", [1.0], x, effect=None)
    peak = float(lin_model.run_with_cache(x, ["relu"])["relu"][:, 0].max())
    assert res.scale_value == pytest.approx(peak)
    assert res.alphas[0].raw_alpha == pytest.approx(peak)
    assert res.target is None and res.alphas[0].target_share is None


def test_groups_share(lin_model):
    res = steering_sweep(lin_model, "relu:2", [4.0], images(6), scale="raw", groups={"cd": {2, 3}})
    assert res.alphas[0].group_shares["cd"] == 1.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"alphas": [float("nan")]}, "finite"),
        ({"alphas": []}, "at least one"),
        ({"scale": "median"}, "scale must be"),
        ({"scale": -1.0}, "scale must be"),
        ({"unit": "relu:7"}, "out of range"),
        ({"unit": "logit:1"}, "cannot steer"),
        ({"unit": "nope:1"}, "unknown layer"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_input_is_a_clear_error(lin_model, kwargs, match):
    args = {"unit": "relu:0", "alphas": [1.0], "scale": "raw", "batch_size": 4, **kwargs}
    with pytest.raises(VisionCircuitsError, match=match):
        steering_sweep(lin_model, args["unit"], args["alphas"], images(2), scale=args["scale"],
                       batch_size=args["batch_size"], effect=None)


def test_dead_unit_with_scale_max_is_an_error(lin_model):
    with torch.no_grad():
        lin_model.net.conv.bias[1] = -10.0  # relu:1 is zero on every image
    with pytest.raises(InputError, match="never activates"):
        steering_sweep(lin_model, "relu:1", [1.0], images(2), effect=None)
