"""Toy models' initial weights come from (architecture, seed, variant): no two zoo models share them."""
from __future__ import annotations

import torch
from safetensors.torch import load_file

from visioncircuits.toyworld.train import TrainConfig, init_model, init_seed, train
from visioncircuits.zoo.toy import UNSUPERVISED_ZOO, ZOO


def test_same_seed_different_architecture_differs_and_same_model_reproduces():
    vgg, resnet = init_model("vgg", 0), init_model("resnet", 0)
    w_vgg, w_res = vgg.conv1[0].weight, resnet.conv1[0].weight
    assert w_vgg.shape == w_res.shape  # same first-layer shape: the old shared-seed init made them equal
    assert not torch.allclose(w_vgg, w_res)
    assert torch.equal(init_model("vgg", 0).conv1[0].weight, w_vgg)
    assert not torch.allclose(init_model("vgg", 0, supervised=False).conv1[0].weight, w_vgg)
    assert not torch.allclose(init_model("vgg", 1).conv1[0].weight, w_vgg)


def test_every_zoo_model_has_its_own_init_seed():
    seeds = [init_seed(a, s) for a, s in ZOO] + [init_seed(a, s, supervised=False) for a, s in UNSUPERVISED_ZOO]
    assert len(set(seeds)) == len(seeds)


def test_init_does_not_touch_the_global_generator():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    init_model("inception", 1)
    assert torch.equal(torch.rand(3), expected)


def test_training_starts_from_init_model(tmp_path):
    """With a zero learning rate, one training step leaves the conv weights at init_model's."""
    cfg = TrainConfig("resnet", seed=4, steps=1, batch=4, lr=0.0, supervised=False)
    res = train(cfg, tmp_path, progress=False)
    trained = load_file(res.weights)
    assert res.name == "toy-resnet-u-s4"
    assert torch.equal(trained["conv1.0.weight"], init_model("resnet", 4, supervised=False).conv1[0].weight)
    assert not torch.equal(trained["conv1.0.weight"], init_model("resnet", 4).conv1[0].weight)


def test_data_cache_gives_the_same_model(tmp_path):
    """Batches read back from the cache are the generated ones: same weights with and without it."""
    cfg = TrainConfig("narrow", seed=5, steps=2, batch=4)
    plain = load_file(train(cfg, tmp_path / "plain", progress=False).weights)
    cache = tmp_path / "cache"
    first = load_file(train(cfg, tmp_path / "first", progress=False, data_cache=cache).weights)
    assert len(list(cache.glob("s5_b4_*.safetensors"))) == 2
    second = load_file(train(cfg, tmp_path / "second", progress=False, data_cache=cache).weights)
    for k in plain:
        assert torch.equal(plain[k], first[k]) and torch.equal(plain[k], second[k]), k


def test_random_weights_are_the_models_own_starting_point():
    """load_model(name, weights="random") is the network its training started from (a per-model null)."""
    from visioncircuits.zoo import load_model

    for name, (arch, seed, sup) in {"toy-vgg-s0": ("vgg", 0, True), "toy-resnet-u-s1": ("resnet", 1, False)}.items():
        net = load_model(name, weights="random").net
        assert torch.equal(net.conv1[0].weight, init_model(arch, seed, sup).conv1[0].weight)
    a = load_model("toy-vgg-s0", weights="random").net.conv1[0].weight
    assert not torch.equal(a, load_model("toy-resnet-s0", weights="random").net.conv1[0].weight)
