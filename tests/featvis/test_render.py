"""Render engine on the tiny model: shapes, range, determinism, objective goes up, early stop."""
from __future__ import annotations

import pytest
import torch

from visioncircuits.errors import InputError, UnknownNameError
from visioncircuits.featvis import objectives as obj
from visioncircuits.featvis import render, render_diverse
from visioncircuits.featvis.render import forward_acts, per_image_values
from visioncircuits.keys import LOGITS


def test_render_shapes_range_and_values_match_images(tiny_model):
    r = render(tiny_model, ["relu2:0", "relu2:3", "relu1:1"], steps=8, size=16, progress=False)
    assert r.images.shape == (3, 3, 16, 16)
    assert r.images.min() >= 0 and r.images.max() <= 1
    assert len(r.values) == 3 and r.names == ["relu2:0", "relu2:3", "relu1:1"]
    acts = tiny_model.run_with_cache(r.images, ["relu1", "relu2"])
    assert r.values[0] == pytest.approx(acts["relu2"][0, 0].mean().item(), rel=1e-4, abs=1e-5)
    assert r.values[1] == pytest.approx(acts["relu2"][1, 3].mean().item(), rel=1e-4, abs=1e-5)
    assert r.values[2] == pytest.approx(acts["relu1"][2, 1].mean().item(), rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("param", ["fft", "pixel", "maco"])
def test_render_increases_objective(tiny_model, param):
    units = ["conv2:0", "conv2:1", "conv2:2"]  # pre-ReLU: never a dead unit
    before = render(tiny_model, units, steps=0, size=16, param=param, progress=False).values
    after = render(tiny_model, units, steps=30, size=16, param=param, progress=False).values
    assert all(a > b for a, b in zip(after, before)), (before, after)


def test_render_is_deterministic_for_a_seed(tiny_model):
    a = render(tiny_model, ["relu2:0", "relu2:1"], steps=5, size=16, seed=3, progress=False)
    b = render(tiny_model, ["relu2:0", "relu2:1"], steps=5, size=16, seed=3, progress=False)
    c = render(tiny_model, ["relu2:0", "relu2:1"], steps=5, size=16, seed=4, progress=False)
    assert torch.equal(a.images, b.images)
    assert not torch.equal(a.images, c.images)


def test_chunking_gives_same_values_as_one_batch_without_transforms(tiny_model):
    units = [f"relu2:{i}" for i in range(6)]
    one = render(tiny_model, units, steps=4, size=16, batch_size=6, transforms="none", progress=False)
    two = render(tiny_model, units, steps=4, size=16, batch_size=4, transforms="none", progress=False)
    assert torch.allclose(one.images, two.images, atol=1e-5)


def test_objectives_sae_free_mix_and_logit(tiny_model):
    objs = [
        obj.channel("relu2", 1) - obj.channel("relu2", 2),
        obj.class_logit(2),
        obj.neuron("relu1", 0, 3, 4),
        "relu2:5@1,1",
    ]
    r = render(tiny_model, objs, steps=3, size=16, progress=False)
    assert len(r.values) == 4 and r.names[1] == "logit:2"
    with torch.no_grad():
        logits = tiny_model(r.images)
    assert r.values[1] == pytest.approx(logits[1, 2].item(), rel=1e-4, abs=1e-5)


def test_per_image_values_fast_path_matches_generic(tiny_model):
    x = torch.rand(4, 3, 16, 16)
    acts = tiny_model.run_with_cache(x, ["relu1", "relu2"], detach=False)
    objs = [obj.channel("relu2", 3), obj.channel("relu1", 2), obj.neuron("relu2", 1, 2, 5), 2 * obj.channel("relu2", 0)]
    got = per_image_values(objs, acts)
    want = torch.stack([o(acts)[i] for i, o in enumerate(objs)])
    assert torch.allclose(got, want)


def test_forward_stops_at_deepest_needed_layer(tiny_model):
    tiny_model.layer_info(16)  # shape tracing runs every layer once, by design
    ran = []
    h = tiny_model.net.conv2.register_forward_hook(lambda *a: ran.append("conv2"))
    try:
        render(tiny_model, ["relu1:0"], steps=2, size=16, progress=False)
    finally:
        h.remove()
    assert ran == []
    assert tiny_model.hook_count() == 0


def test_weights_get_no_gradients(tiny_model):
    render(tiny_model, ["relu2:0"], steps=2, size=16, progress=False)
    assert all(p.grad is None for p in tiny_model.parameters())


def test_diverse_images_differ_more_than_without_diversity(tiny_model):
    same = render_diverse(tiny_model, "conv2:0", n=3, weight=0.0, steps=30, size=16, progress=False)
    diff = render_diverse(tiny_model, "conv2:0", n=3, weight=20.0, steps=30, size=16, progress=False)
    assert diff.images.shape == (3, 3, 16, 16) and len(diff.values) == 3
    div = obj.diversity("conv2")

    def similarity(images):
        return -div(tiny_model.run_with_cache(images, ["conv2"])).mean().item()

    assert similarity(diff.images) < similarity(same.images) - 0.01


def test_bad_units_are_clear_errors(tiny_model):
    with pytest.raises(UnknownNameError, match="closest"):
        render(tiny_model, ["relu3:0"], steps=1, progress=False)
    with pytest.raises(InputError, match="out of range"):
        render(tiny_model, ["relu2:99"], steps=1, progress=False)
    with pytest.raises(InputError):
        render(tiny_model, [], steps=1, progress=False)


def test_memory_budget_sets_chunk_size(tiny_model):
    from visioncircuits.featvis.render import auto_batch_size

    big = auto_batch_size(tiny_model, frozenset(["relu2"]), 16, budget_mb=100)
    small = auto_batch_size(tiny_model, frozenset(["relu2"]), 16, budget_mb=0.05)
    shallow = auto_batch_size(tiny_model, frozenset(["relu1"]), 16, budget_mb=0.05)
    assert big > small >= 1 and shallow > small  # a shallower target keeps less in memory
    units = [f"conv2:{i}" for i in range(5)]
    chunked = render(tiny_model, units, steps=3, size=16, memory_budget_mb=0.05, transforms="none", progress=False)
    whole = render(tiny_model, units, steps=3, size=16, batch_size=5, transforms="none", progress=False)
    assert torch.allclose(chunked.images, whole.images, atol=1e-5)


def test_render_config_is_the_single_source(tiny_model):
    from visioncircuits.errors import InputError
    from visioncircuits.featvis import RenderConfig

    cfg = RenderConfig(steps=6, size=16, seed=3, progress=False)
    a = render(tiny_model, ["conv2:1", "conv2:2"], cfg)
    b = render(tiny_model, ["conv2:1", "conv2:2"], steps=6, size=16, seed=3, progress=False)  # keywords still work
    c = render(tiny_model, ["conv2:1", "conv2:2"], cfg, seed=4)  # a keyword overrides one field
    assert torch.equal(a.images, b.images) and a.values == b.values
    assert not torch.equal(a.images, c.images) and c.seed == 4 and cfg.seed == 3
    with pytest.raises(TypeError, match="stepz"):
        render(tiny_model, "conv2:1", cfg, stepz=3)
    with pytest.raises(InputError, match="RenderConfig.steps"):
        RenderConfig(steps=-1)


def test_forward_acts_is_a_deprecated_alias_with_logits_in_one_pass(tiny_model):
    x = torch.rand(2, 3, 16, 16)
    with pytest.warns(DeprecationWarning):
        acts = forward_acts(tiny_model, x, frozenset(["relu1", LOGITS]))
    assert torch.allclose(acts[LOGITS], tiny_model(x), atol=1e-6) and acts["relu1"].requires_grad  # graph kept
    r = render(tiny_model, ["logit:2"], steps=3, size=16, progress=False)  # logit objectives read LOGITS from the cache
    assert r.values[0] == pytest.approx(tiny_model(r.images)[0, 2].item(), rel=1e-4, abs=1e-5)
