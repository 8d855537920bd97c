"""Attribution between features: exact where the answer is known, complete where it must be."""
from __future__ import annotations

import pytest
import torch

from visioncircuits.atomic import write_png
from visioncircuits.circuits.attribution import ActivationGradient, Conductance, IntegratedGradients, get_method
from visioncircuits.errors import InputError, UnknownNameError


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(3)
    return torch.rand(4, 3, 16, 16, generator=g)


def test_act_x_grad_to_a_logit_is_weight_times_mean_activation(tiny_model, images):
    scores = ActivationGradient(tiny_model, "logit:2").attribute(images, "relu2", reduce="none")["relu2"]
    acts = tiny_model.run_with_cache(images, ["relu2"])["relu2"]
    want = tiny_model.net.fc.weight[2].detach() * acts.mean((2, 3))
    assert scores.shape == (4, 6)
    assert torch.allclose(scores, want, atol=1e-6)


def test_several_layers_in_one_pass_equal_separate_calls(tiny_model, images):
    ag = ActivationGradient(tiny_model, "relu2:1")
    both = ag.attribute(images, ["relu1", "conv1"])
    assert torch.allclose(both["relu1"], ag.attribute(images, "relu1")["relu1"])
    assert both["conv1"].shape == (4,) and both["relu1"].abs().sum() > 0


@pytest.mark.parametrize("cls", [IntegratedGradients, Conductance])
def test_captum_methods_are_complete(tiny_model, images, cls):
    # layer IG / conductance sum to f(x) - f(black) over the layer's units
    method = cls(tiny_model, "logit:0", n_steps=48)
    per_image = method.attribute(images, "relu1", reduce="none")["relu1"]
    with torch.no_grad():
        f = tiny_model(images)[:, 0] - tiny_model(torch.zeros_like(images))[:, 0]
    tol = 2e-3 if cls is IntegratedGradients else 2e-2  # Gauss-Legendre vs the Riemann sum conductance needs
    assert torch.allclose(per_image.sum(1), f, atol=tol * float(f.abs().max()))


def test_integrated_gradients_on_a_chain_of_layers(tiny_model, images):
    ig = IntegratedGradients(tiny_model, "relu2:3", n_steps=32)
    both = ig.attribute(images, ["relu1", "conv2"], reduce="none")
    with torch.no_grad():
        f = (tiny_model.run_with_cache(images, ["relu2"])["relu2"][:, 3].mean((1, 2))
             - tiny_model.run_with_cache(torch.zeros_like(images), ["relu2"])["relu2"][:, 3].mean((1, 2)))
    for layer in ("relu1", "conv2"):
        assert torch.allclose(both[layer].sum(1), f, atol=5e-3 * float(f.abs().max()) + 1e-6)


def test_folder_equals_tensor_and_skips_bad_files(tiny_model, images, tmp_path):
    for i, img in enumerate(images):
        write_png(tmp_path / f"{i}.png", img)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    q = (images * 255).round() / 255  # PNG quantisation
    ag = ActivationGradient(tiny_model, "logit:1")
    from_folder = ag.attribute(tmp_path, "relu1", batch_size=3)["relu1"]
    assert torch.allclose(from_folder, ag.attribute(q, "relu1")["relu1"], atol=1e-5)


def test_no_hook_leaks_and_clear_errors(tiny_model, images):
    before = tiny_model.hook_count()
    for cls in (ActivationGradient, IntegratedGradients, Conductance):
        cls(tiny_model, "relu2:0").attribute(images[:2], "relu1")
        with pytest.raises(InputError, match="must run before"):
            cls(tiny_model, "relu1:0").attribute(images, "relu2")
        assert tiny_model.hook_count() == before
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        ActivationGradient(tiny_model, "relu2:0").attribute(images * 3, "relu1")
    with pytest.raises(InputError, match="out of range"):
        ActivationGradient(tiny_model, "relu2:17")
    with pytest.raises(UnknownNameError):
        get_method("integrated_gradient")
    assert tiny_model.hook_count() == before


def test_sae_latents_as_target_and_as_lower_units(tiny_model, images, tmp_path):
    from visioncircuits.sae.io import save_sae
    from visioncircuits.sae.models import SparseAutoencoder

    torch.manual_seed(0)
    sae = SparseAutoencoder(6, 10, "relu", cfg={"layer": "relu2", "model": "tiny"})
    save_sae(sae, tmp_path / "sae")
    d = str(tmp_path / "sae")
    scores = ActivationGradient(tiny_model, "logit:1").attribute(images, [f"sae:{d}"], reduce="none")[f"sae:{d}"]
    acts = tiny_model.run_with_cache(images, ["relu2"])["relu2"]
    z = sae.encode(acts.permute(0, 2, 3, 1).reshape(-1, 6)).view(4, -1, 10).detach()
    direction = (sae.W_dec.detach() / sae.input_scale) @ tiny_model.net.fc.weight[1].detach() / 256
    assert scores.shape == (4, 10)
    assert torch.allclose(scores, z.sum(1) * direction, atol=1e-6)
    # an SAE latent as the target
    t = ActivationGradient(tiny_model, f"sae:{d}:2").attribute(images, "relu1")["relu1"]
    assert t.shape == (4,)
