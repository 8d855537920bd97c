"""Activation and attribution patching on hand-built models with known answers (see conftest.py)."""
from __future__ import annotations

import math

import pytest
import torch

from visioncircuits.errors import InputError
from visioncircuits.interventions.attribution_patching import attribution_patching, patching_rank_correlation
from visioncircuits.interventions.patching import activation_patching, logit_diff_metric, logit_metric, patch


def _means(x):
    """Per-image channel means of the linear model's ``mix`` layer: red, green, red + blue."""
    m = x.mean(dim=(2, 3))
    return torch.stack([m[:, 0], m[:, 1], m[:, 0] + m[:, 2]], 1)


def test_activation_patching_matches_the_closed_form(linear_model, images, other_images):
    effects = activation_patching(linear_model, images, other_images, ["mix"], logit_metric(1))
    assert list(effects) == ["mix:0", "mix:1", "mix:2"]
    # logit 1 = c0 - c1 + c2: patching channel c moves it by w_c * (mean c_corrupt - mean c_clean)
    d = (_means(other_images) - _means(images)).mean(0)
    expected = torch.tensor([1.0, -1.0, 1.0]) * d
    torch.testing.assert_close(torch.tensor(list(effects.values())), expected, atol=1e-5, rtol=0)
    assert linear_model.hook_count() == 0


def test_batching_over_units_does_not_change_the_effects(relu_model, images, other_images):
    metric = logit_diff_metric(0, 1)
    one = activation_patching(relu_model, images, other_images, ["mix", "mix2:1@3,3"], metric, max_batch=4)
    many = activation_patching(relu_model, images, other_images, ["mix", "mix2:1@3,3"], metric, max_batch=64)
    assert one.keys() == many.keys() and len(one) == 4
    for k in one:
        assert one[k] == pytest.approx(many[k], abs=1e-6)
    with patch(relu_model, ["mix2:1@3,3"], other_images):  # the one-unit context manager agrees
        patched = metric(relu_model(images))
    base = metric(relu_model(images))
    assert float((patched - base).mean().detach()) == pytest.approx(one["mix2:1@3,3"], abs=1e-6)


def test_attribution_patching_is_exact_on_a_linear_model(linear_model, images, other_images, sae_dir):
    targets = ["mix", "mix:1@2,2", f"sae:{sae_dir}"]
    for metric in (logit_metric(0), logit_diff_metric(0, 1)):
        est = attribution_patching(linear_model, images, other_images, targets, metric)
        true = activation_patching(linear_model, images, other_images, targets, metric)
        assert list(est) == list(true) and len(est) == 3 + 1 + 4
        for k in est:
            assert est[k] == pytest.approx(true[k], abs=1e-5), k
        assert any(abs(v) > 1e-3 for v in true.values())
    assert linear_model.hook_count() == 0


def test_attribution_patching_is_approximate_after_a_relu(relu_model, images):
    # corrupt by a large shift so units cross the ReLU kinks: the first-order estimate is then off
    corrupted = (1 - images).clamp(0, 1)
    est = attribution_patching(relu_model, images, corrupted, ["mix"], logit_metric(0))
    true = activation_patching(relu_model, images, corrupted, ["mix"], logit_metric(0))
    errors = [abs(est[k] - true[k]) for k in est]
    assert max(errors) > 1e-3  # not exact ...
    assert patching_rank_correlation(est, true) > 0  # ... but still ranks units in the right direction
    # mix2 feeds the linear head through relu2 only: estimates there are exact where no sign flips
    est2 = attribution_patching(relu_model, images, images.roll(1, 0), ["relu2"], logit_metric(0))
    true2 = activation_patching(relu_model, images, images.roll(1, 0), ["relu2"], logit_metric(0))
    for k in est2:
        assert est2[k] == pytest.approx(true2[k], abs=1e-5)


def test_rank_correlation():
    a = {"u0": 1.0, "u1": 2.0, "u2": 3.0, "u3": 4.0}
    assert patching_rank_correlation(a, {"u0": 10, "u1": 20, "u2": 30, "u3": 40, "extra": 0}) == pytest.approx(1.0)
    assert patching_rank_correlation(a, {"u0": 4, "u1": 3, "u2": 2, "u3": 1}) == pytest.approx(-1.0)
    assert math.isnan(patching_rank_correlation(a, {"u0": 1, "u1": 1, "u2": 1}))


def test_bad_inputs(linear_model, images, other_images):
    with pytest.raises(InputError, match="pair up"):
        activation_patching(linear_model, images, other_images[:3], ["mix:0"], logit_metric(0))
    with pytest.raises(InputError, match="one value per image"):
        activation_patching(linear_model, images, other_images, ["mix:0"], lambda logits: logits.sum())
    with pytest.raises(InputError, match="pair up"):
        attribution_patching(linear_model, images, other_images[:3], ["mix"], logit_metric(0))
    with pytest.raises(InputError, match="out of range"):
        attribution_patching(linear_model, images, other_images, ["mix:9"], logit_metric(0))
    assert linear_model.hook_count() == 0


def test_per_image_targets_line_up_when_units_are_batched(linear_model, images, other_images):
    classes = torch.tensor([0, 1, 0, 1])
    effects = activation_patching(linear_model, images, other_images, ["mix"], logit_metric(classes), max_batch=64)
    est = attribution_patching(linear_model, images, other_images, ["mix"], logit_metric(classes))
    d = _means(other_images) - _means(images)  # (N, 3) per-image channel changes
    w = torch.tensor([[2.0, 3.0, 0.0], [1.0, -1.0, 1.0]])[classes]  # each image's own class weights
    expected = (w * d).mean(0)
    torch.testing.assert_close(torch.tensor(list(effects.values())), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(list(est.values())), expected, atol=1e-5, rtol=0)
    with pytest.raises(InputError, match="2 classes for a batch of 4"):
        activation_patching(linear_model, images, other_images, ["mix:0"], logit_metric(torch.tensor([0, 1])))
