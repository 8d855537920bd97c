"""ActivationCache: one forward pass gives layers, units, SAE latents (spliced with their error
term) and the logits; the pass stops early unless the output is needed."""
from __future__ import annotations

import pytest
import torch

from visioncircuits.cache import ActivationCache
from visioncircuits.errors import InputError, UnknownNameError
from visioncircuits.keys import LOGITS, SAELayer, is_logits, model_layer
from visioncircuits.units import parse_unit


@pytest.fixture
def sae_dir(tmp_path):
    from visioncircuits.sae.io import save_sae
    from visioncircuits.sae.models import SparseAutoencoder

    torch.manual_seed(0)
    sae = SparseAutoencoder(6, 8, architecture="topk", k=3, cfg={"layer": "relu2", "model": "tiny"})
    return str(save_sae(sae, tmp_path / "sae"))


def _fc_calls(model):
    calls = []
    handle = model.net.fc.register_forward_hook(lambda *a: calls.append(1))
    return calls, handle


def test_output_comes_from_the_same_pass(tiny_model):
    x = torch.rand(3, 3, 16, 16)
    cache = tiny_model.run_with_cache(x, ["relu1"], return_output=True)
    assert isinstance(cache, ActivationCache)
    assert torch.allclose(cache.output, tiny_model(x), atol=1e-6)
    assert list(cache) == ["relu1", LOGITS] and len(cache) == 2
    assert torch.equal(cache[LOGITS], cache.output) and torch.equal(cache["<logits>"], cache.output)
    assert dict(cache)["relu1"].shape == (3, 4, 16, 16)  # still a Mapping for dict-style callers


def test_stops_early_unless_the_output_is_needed(tiny_model):
    tiny_model.layer_info()
    calls, h = _fc_calls(tiny_model)
    try:
        cache = tiny_model.run_with_cache(torch.rand(1, 3, 16, 16), "relu1")
        assert calls == [] and cache.output is None
        with pytest.raises(KeyError, match="return_output"):
            cache[LOGITS]
        tiny_model.run_with_cache(torch.rand(1, 3, 16, 16), ["relu1", LOGITS])
        assert calls == [1]
    finally:
        h.remove()
    assert tiny_model.hook_count() == 0


def test_index_by_unit_logit_and_move(tiny_model):
    x = torch.rand(2, 3, 16, 16)
    u, lg = parse_unit("relu2:3@4,5"), parse_unit("logit:1")
    cache = tiny_model.run_with_cache(x, [u, lg])
    full = tiny_model.run_with_cache(x, "relu2")["relu2"]
    assert list(cache) == ["relu2"]  # a unit caches its layer; the logit comes as .output
    assert torch.equal(cache[u], full[:, 3])
    assert torch.allclose(cache[lg], tiny_model(x)[:, 1], atol=1e-6)
    moved = cache.to("cpu")
    assert isinstance(moved, ActivationCache) and torch.equal(moved[u], cache[u])
    with pytest.raises(KeyError):
        cache[parse_unit("relu1:0")]


def test_sae_splice_keeps_the_forward_and_caches_latents(tiny_model, sae_dir):
    from visioncircuits.sae.models import flatten_positions
    from visioncircuits.unit_activations import get_sae

    x = torch.rand(2, 3, 16, 16)
    key = f"sae:{sae_dir}"
    cache = tiny_model.run_with_cache(x, ["relu2", key], return_output=True)
    assert list(cache) == ["relu2", key, LOGITS]
    # error term kept: the model's output is what it is without the SAE
    assert torch.allclose(cache.output, tiny_model(x), atol=1e-5)
    sae = get_sae(sae_dir)
    z = cache[SAELayer(sae_dir)]
    assert z.shape == (2, 8, 16, 16)
    expect = sae.encode(flatten_positions(cache["relu2"]))
    assert torch.allclose(z.permute(0, 2, 3, 1).reshape(-1, 8), expect, atol=1e-6)
    assert (z > 0).float().sum(1).max() <= 3  # TopK: at most k latents on per position


def test_spliced_latents_carry_gradients(tiny_model, sae_dir):
    x = torch.rand(1, 3, 16, 16)
    cache = tiny_model.run_with_cache(x, [f"sae:{sae_dir}"], return_output=True, detach=False)
    z = cache[f"sae:{sae_dir}"]
    (g,) = torch.autograd.grad(cache.output[:, 0].sum(), z)
    assert g.abs().sum() > 0  # the logits depend on the latents through the decoder


def test_sae_layer_alone_stops_after_its_layer(tiny_model, sae_dir):
    tiny_model.layer_info()
    calls, h = _fc_calls(tiny_model)
    try:
        cache = tiny_model.run_with_cache(torch.rand(1, 3, 16, 16), SAELayer(sae_dir))
    finally:
        h.remove()
    assert calls == [] and list(cache) == [f"sae:{sae_dir}"]


def test_keys_and_bad_keys(tiny_model, sae_dir):
    assert is_logits(LOGITS) and is_logits("<logits>") and not is_logits("relu1")
    assert repr(LOGITS) == "LOGITS" and str(LOGITS) == "logits"
    assert str(SAELayer.parse(f"sae:{sae_dir}")) == f"sae:{sae_dir}"
    assert model_layer(f"sae:{sae_dir}") == "relu2" and model_layer("relu1") == "relu1"
    with pytest.raises(UnknownNameError):
        tiny_model.run_with_cache(torch.rand(1, 3, 16, 16), "relu9")
    with pytest.raises(InputError):
        tiny_model.run_with_cache(torch.rand(1, 3, 16, 16), [3.5])
    with pytest.raises(InputError):
        tiny_model.run_with_cache(torch.rand(1, 3, 16, 16), "relu1", layers="relu2")
    old = tiny_model.run_with_cache(torch.rand(1, 3, 16, 16), layers=["relu1"])  # the old keyword
    assert list(old) == ["relu1"]


def test_cache_accepts_dict_style_writes(tiny_model):
    cache = tiny_model.run_with_cache(torch.rand(1, 3, 16, 16), ["relu1", "relu2"])
    cache["extra"] = torch.zeros(1)
    del cache["relu1"]
    assert list(cache) == ["relu2", "extra"]
    cache[LOGITS] = torch.ones(1, 3)
    assert list(cache)[-1] == LOGITS and torch.equal(cache.output, torch.ones(1, 3))
