"""Ablation on hand-built models: each answer is known in closed form (see conftest.py)."""
from __future__ import annotations

import pytest
import torch

from visioncircuits.errors import InputError, UnknownNameError
from visioncircuits.interventions.ablation import ablate, reference_means
from visioncircuits.sae.io import load_sae
from visioncircuits.units import Unit


def _red(x):
    return x[:, 0].mean(dim=(1, 2))


def _green(x):
    return x[:, 1].mean(dim=(1, 2))


def test_zero_ablation_removes_exactly_the_channels_weighted_mean(linear_model, images):
    base = linear_model(images)
    with ablate(linear_model, ["mix:1"], "zero"):
        out = linear_model(images)
    # logit 0 = 2 c0 + 3 c1: zeroing c1 (= green) drops it by 3 * mean(green); logit 1 = c0 - c1 + c2 rises by it
    torch.testing.assert_close(base[:, 0] - out[:, 0], 3 * _green(images), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[:, 1] - base[:, 1], _green(images), atol=1e-5, rtol=0)
    assert linear_model.hook_count() == 0
    torch.testing.assert_close(linear_model(images), base)  # nothing left behind


def test_other_units_untouched_and_unit_objects_accepted(linear_model, images):
    clean = linear_model.run_with_cache(images, ["mix"])["mix"]
    with ablate(linear_model, [Unit("mix", 0), "mix:2"], "zero"):
        acts = linear_model.run_with_cache(images, ["mix"])["mix"]
    assert torch.all(acts[:, [0, 2]] == 0)
    assert torch.equal(acts[:, 1], clean[:, 1])


def test_position_edit_changes_only_that_position(linear_model, images):
    clean = linear_model.run_with_cache(images, ["mix"], return_output=True)
    with ablate(linear_model, ["mix:1@2,5"], "zero"):
        edited = linear_model.run_with_cache(images, ["mix"], return_output=True)
    diff = (edited["mix"] - clean["mix"]).abs()
    assert torch.all(diff[:, 1, 2, 5] == clean["mix"][:, 1, 2, 5].abs())
    diff[:, 1, 2, 5] = 0
    assert diff.max() == 0
    drop = clean.output[:, 0] - edited.output[:, 0]
    torch.testing.assert_close(drop, 3 * images[:, 1, 2, 5] / 64, atol=1e-6, rtol=0)


def test_mean_ablation_uses_the_per_position_reference_mean(linear_model, images, other_images):
    means = reference_means(linear_model, ["mix:1"], other_images, batch_size=3)
    assert means.n_images == 4 and means["mix"].shape == (3, 8, 8)
    torch.testing.assert_close(means["mix"][1], other_images[:, 1].mean(0))
    with ablate(linear_model, ["mix:1"], "mean", means=means):
        out = linear_model(images)
    expected = 2 * _red(images) + 3 * other_images[:, 1].mean()
    torch.testing.assert_close(out[:, 0], expected, atol=1e-5, rtol=0)
    with ablate(linear_model, ["mix:1"], "mean", reference=other_images):  # computed on entry: same answer
        torch.testing.assert_close(linear_model(images), out)


def test_resample_from_source_images_and_from_the_batch(linear_model, images, other_images):
    with ablate(linear_model, ["mix:1"], "resample", source=other_images):
        out = linear_model(images)
    torch.testing.assert_close(out[:, 0], 2 * _red(images) + 3 * _green(other_images), atol=1e-5, rtol=0)
    with ablate(linear_model, ["mix:1"], "resample"):
        rolled = linear_model(images)
    torch.testing.assert_close(rolled[:, 0], 2 * _red(images) + 3 * _green(images.roll(1, 0)), atol=1e-5, rtol=0)


def test_units_in_several_layers_at_once(relu_model, images):
    with ablate(relu_model, ["mix:0", "mix2:1"], "zero"):
        cache = relu_model.run_with_cache(images, ["mix", "mix2"], return_output=True)
    assert torch.all(cache["mix"][:, 0] == 0) and torch.all(cache["mix2"][:, 1] == 0)
    # mix2 channel 0 is computed from the edited mix (red removed): 1*relu(0) - 1*relu(green) + 0.5*relu(red+blue) - 0.2
    x = images
    expected0 = -x[:, 1] + 0.5 * (x[:, 0] + x[:, 2]) - 0.2
    torch.testing.assert_close(cache["mix2"][:, 0], expected0, atol=1e-5, rtol=0)


def test_gradients_flow_through_an_ablation(relu_model, images):
    x = images.clone().requires_grad_(True)
    with ablate(relu_model, ["mix:1"], "zero"):
        relu_model(x)[:, 0].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert x.grad[:, 1].abs().max() < 1e-6  # green only reaches the logits through the ablated channel


def test_sae_latent_is_edited_through_the_sae_with_the_error_term_kept(linear_model, images, sae_dir):
    sae = load_sae(sae_dir)
    clean = linear_model.run_with_cache(images, ["mix"])["mix"]
    flat = clean.permute(0, 2, 3, 1).reshape(-1, 3)
    z = sae.encode(flat).detach()
    assert (z[:, 3] > 0).float().mean() > 0.3  # the latent we ablate is active on these images
    with ablate(linear_model, [f"sae:{sae_dir}:3"], "zero"):
        edited = linear_model.run_with_cache(images, ["mix"])["mix"]
    expected = flat - z[:, 3:4] * sae.W_dec[3].detach() / 2.0  # only latent 3's decoder contribution leaves
    torch.testing.assert_close(edited.permute(0, 2, 3, 1).reshape(-1, 3), expected, atol=1e-5, rtol=0)
    # mean ablation of a latent: its reference mean is what replaces it
    means = reference_means(linear_model, [f"sae:{sae_dir}"], images)
    assert means[f"sae:{sae_dir}"].shape == (4, 8, 8)
    with ablate(linear_model, [f"sae:{sae_dir}:3"], "mean", means=means):
        edited = linear_model.run_with_cache(images, ["mix"])["mix"]
    m3 = means[f"sae:{sae_dir}"][3][None].expand(4, 8, 8).reshape(-1, 1)
    expected = flat + (m3 - z[:, 3:4]) * sae.W_dec[3].detach() / 2.0
    torch.testing.assert_close(edited.permute(0, 2, 3, 1).reshape(-1, 3), expected, atol=1e-5, rtol=0)
    assert linear_model.hook_count() == 0


def test_hooks_removed_when_the_block_raises(linear_model, images):
    with pytest.raises(RuntimeError, match="boom"), ablate(linear_model, ["mix:1"], "zero"):
        assert linear_model.hook_count() == 1
        raise RuntimeError("boom")
    assert linear_model.hook_count() == 0


@pytest.mark.parametrize("units, kwargs, error, match", [
    (["nolayer:1"], {"mode": "zero"}, UnknownNameError, "unknown layer"),
    (["mix:7"], {"mode": "zero"}, InputError, "out of range"),
    (["mix:1@9,0"], {"mode": "zero"}, InputError, "position"),
    (["logit:0"], {"mode": "zero"}, InputError, "logit"),
    ([], {"mode": "zero"}, InputError, "no units"),
    (["mix:1"], {"mode": "mean"}, InputError, "means="),
    (["mix:1"], {"mode": "scramble"}, InputError, "unknown ablation mode"),
])
def test_bad_inputs_are_clear_errors(linear_model, units, kwargs, error, match):
    with pytest.raises(error, match=match), ablate(linear_model, units, **kwargs):
        pass
    assert linear_model.hook_count() == 0


def test_mismatched_means_or_source_are_clear_errors(linear_model, images, other_images):
    means = reference_means(linear_model, ["mix"], torch.rand(2, 3, 16, 16))
    with pytest.raises(InputError, match="same size"), ablate(linear_model, ["mix:1"], "mean", means=means):
        linear_model(images)
    with pytest.raises(InputError, match="no entry"), ablate(linear_model, ["fc:0"], "mean", means=means):
        pass
    with pytest.raises(InputError, match="as many source images"), \
            ablate(linear_model, ["mix:1"], "resample", source=other_images[:3]):
        linear_model(images)
    assert linear_model.hook_count() == 0
