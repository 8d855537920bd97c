"""Objective algebra, declared layers and the vectorised diversity term."""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from visioncircuits.errors import InputError
from visioncircuits.featvis import objectives as obj


@pytest.fixture
def acts():
    g = torch.Generator().manual_seed(0)
    return {"a": torch.randn(4, 5, 3, 3, generator=g), "b": torch.randn(4, 6, 2, 2, generator=g),
            obj.LOGITS: torch.randn(4, 3, generator=g)}


def test_channel_neuron_logit_values(acts):
    assert torch.allclose(obj.channel("a", 2)(acts), acts["a"][:, 2].mean(dim=(1, 2)))
    assert torch.allclose(obj.neuron("a", 1, 0, 2)(acts), acts["a"][:, 1, 0, 2])
    assert torch.allclose(obj.neuron("a", 1)(acts), acts["a"][:, 1, 1, 1])  # centre of a 3x3 map
    assert torch.allclose(obj.class_logit(2)(acts), acts[obj.LOGITS][:, 2])


def test_algebra(acts):
    a, b = obj.channel("a", 0), obj.channel("b", 4)
    va, vb = a(acts), b(acts)
    assert torch.allclose((a + b)(acts), va + vb)
    assert torch.allclose((a - b)(acts), va - vb)
    assert torch.allclose((2 * a - 0.5 * b)(acts), 2 * va - 0.5 * vb)
    assert torch.allclose((a * 3)(acts), 3 * va)
    assert torch.allclose((a / 4)(acts), va / 4)
    assert torch.allclose((-a)(acts), -va)
    assert torch.allclose(sum([a, b, a])(acts), 2 * va + vb)
    assert torch.allclose(((a + b) - a)(acts), vb)
    assert (a + b).layers == {"a", "b"}
    assert (a - b).name == "a:0 - b:4"
    with pytest.raises(InputError):
        a / 0
    with pytest.raises(TypeError):
        a + 1
    with pytest.raises(InputError):
        (a - a)(acts)


def test_direction(acts):
    v = torch.zeros(5)
    v[3] = 2.0
    assert torch.allclose(obj.direction("a", v)(acts), acts["a"][:, 3].mean(dim=(1, 2)))
    cos = obj.direction("a", v, cosine=True)(acts)
    assert cos.shape == (4,) and cos.abs().max() <= 1
    with pytest.raises(InputError):
        obj.direction("a", torch.ones(4))(acts)
    with pytest.raises(InputError):
        obj.direction("a", torch.zeros(5))


def test_diversity_matches_pairwise_loop(acts):
    a = acts["a"]
    got = obj.diversity("a")(acts)
    grams = [(x.flatten(1) @ x.flatten(1).T).flatten() for x in a]
    n = len(grams)
    want = torch.zeros(n)
    for i, j in itertools.permutations(range(n), 2):
        want[i] -= F.cosine_similarity(grams[i], grams[j], dim=0) / (n - 1)
    assert torch.allclose(got, want, atol=1e-5)
    # identical images are maximally similar: diversity -1 each
    same = {"a": a[:1].repeat(3, 1, 1, 1)}
    assert torch.allclose(obj.diversity("a")(same), torch.full((3,), -1.0), atol=1e-5)


def test_objectives_are_differentiable(acts):
    x = acts["a"].clone().requires_grad_(True)
    (obj.channel("a", 1) + obj.diversity("a"))({"a": x}).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_as_objective_validates_against_model(tiny_model):
    from visioncircuits.errors import UnknownNameError

    o = obj.as_objective(tiny_model, "relu2:3@2,2")
    assert o.layers == {"relu2"} and o.unit.y == 2
    with pytest.raises(UnknownNameError):
        obj.as_objective(tiny_model, obj.channel("nope", 0))
    with pytest.raises(InputError):
        obj.as_objective(tiny_model, 42)


def test_sae_latent_objective_reads_layer_from_config(tmp_path, tiny_model, monkeypatch):
    (tmp_path / "cfg.json").write_text('{"architecture": "relu", "d_in": 6, "d_sae": 8, "layer": "relu2"}')
    o = obj.sae_latent(str(tmp_path), 5)
    assert o.layers == {"relu2"} and o.unit.kind == "sae"
    calls = []

    def fake_map(unit, a):  # the SAE part provides the real map; here we check the plumbing
        calls.append(unit.index)
        return a[:, 0] * 0 + unit.index

    monkeypatch.setattr(obj, "unit_map", fake_map)
    out = o({"relu2": torch.ones(2, 6, 4, 4)})
    assert calls == [5] and torch.allclose(out, torch.full((2,), 5.0))
