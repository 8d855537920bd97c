"""Expanded weights: exact on models whose answer is known, equal to brute force elsewhere."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from visioncircuits.circuits.expanded import ExpandedWeights, expanded_weights, expanded_weights_loop
from visioncircuits.circuits.linearize import linear_functions, linearize
from visioncircuits.errors import InputError, UnknownNameError
from visioncircuits.hooks import HookedModel
from visioncircuits.zoo import load_model


def test_adjacent_layers_give_the_conv_kernel(tiny_model):
    # relu1 -> relu2 is one 3x3 conv: the expanded weights are that kernel around the centre
    w = expanded_weights(tiny_model, "relu1", "relu2")
    assert w.shape == (6, 4, 16, 16)
    k = tiny_model.net.conv2.weight.detach()
    assert torch.allclose(w[:, :, 7:10, 7:10], k, atol=1e-6)
    w[:, :, 7:10, 7:10] = 0
    assert w.abs().max() == 0  # nothing outside the receptive field
    assert torch.allclose(expanded_weights(tiny_model, "relu1", "relu2", crop=3), k, atol=1e-6)
    assert expanded_weights(tiny_model, "relu1", "relu2", crop="auto").shape == (6, 4, 3, 3)


def test_to_logits_is_fc_times_mean(tiny_model):
    w = expanded_weights(tiny_model, "relu2", "logits")
    assert w.shape == (3, 6, 16, 16)
    fc = tiny_model.net.fc.weight.detach()
    assert torch.allclose(w.sum((2, 3)), fc, atol=1e-5)
    assert torch.allclose(w[:, :, 3, 5], fc / 256, atol=1e-7)


class PoolNet(nn.Module):
    """Functional relu, max-pool and -inf padding inside forward, plus a residual add."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 5, 3, padding=1)
        self.b = nn.Conv2d(5, 5, 3, padding=1)
        self.bn = nn.BatchNorm2d(5)
        self.c = nn.Conv2d(5, 7, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.id1, self.id2 = nn.Identity(), nn.Identity()

    def forward(self, x):
        x = self.id1(F.relu(self.a(x)))
        y = self.bn(self.b(x))
        x = torch.relu(x + y)
        x = F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=float("-inf")), 3, stride=2)
        return self.id2(self.pool(self.c(x)).relu())


def _hooked(net, size=24):
    return HookedModel.wrap(net, mean=(0.5,) * 3, std=(0.25,) * 3, input_size=size, name="poolnet", num_classes=7)


@pytest.fixture
def poolnet():
    torch.manual_seed(1)
    net = PoolNet()
    with torch.no_grad():
        net.bn.running_mean.uniform_(-1, 1)
        net.bn.running_var.uniform_(0.5, 2)
        net.bn.weight.uniform_(0.5, 1.5)
    return _hooked(net)


def test_linearised_model_is_the_hand_written_linear_path(poolnet):
    lin = linearize(poolnet)
    net = poolnet.net
    x = torch.randn(2, 3, 24, 24)
    with torch.no_grad():
        h = net.a(x)
        h = h + net.bn(net.b(h))
        h = F.avg_pool2d(F.pad(h, (0, 1, 0, 1)), 3, stride=2, count_include_pad=False)
        want = F.avg_pool2d(net.c(h), 2)
        with linear_functions():
            got = lin.net(x)
    assert torch.allclose(got, want, atol=1e-5)
    # the functional patches are undone and the original model is untouched
    assert F.relu(torch.tensor([-1.0])).item() == 0.0
    assert F.max_pool2d(torch.tensor([[[[1.0, 3.0]]]]), (1, 2)).item() == 3.0
    assert isinstance(poolnet.net.pool, nn.MaxPool2d)


@pytest.mark.parametrize("window", [True, False])
def test_batched_equals_brute_force_across_residual_and_pooling(poolnet, window):
    fast = ExpandedWeights(poolnet, window=window).compute("id1", "id2")
    slow = expanded_weights_loop(poolnet, "id1", "id2")
    assert fast.shape == (7, 5, 24, 24)
    assert fast.abs().max() > 0
    assert torch.allclose(fast, slow, atol=1e-6)


def test_no_hook_leak_and_clear_errors(tiny_model):
    before = tiny_model.hook_count()
    with pytest.raises(InputError, match="must run before"):
        expanded_weights(tiny_model, "relu2", "relu1")
    with pytest.raises(UnknownNameError, match="closest"):
        expanded_weights(tiny_model, "relu_1", "relu2")
    with pytest.raises(InputError, match="larger than"):
        expanded_weights(tiny_model, "relu1", "relu2", crop=40)
    with pytest.raises(InputError, match="out of range"):
        expanded_weights(tiny_model, "relu1", "relu2", units=[9])
    assert tiny_model.hook_count() == before
    assert F.relu(torch.tensor([-2.0])).item() == 0.0


def test_units_subset_matches_full_rows(tiny_model):
    full = expanded_weights(tiny_model, "relu1", "relu2")
    sub = expanded_weights(tiny_model, "relu1", "relu2", units=[4, 1])
    assert torch.equal(sub, full[[4, 1]])
    by_addr = expanded_weights(tiny_model, "relu1", "relu2", units=["relu2:4"])
    assert torch.allclose(by_addr, full[[4]])


def test_cifar_resnet_non_adjacent_blocks_match_brute_force():
    model = load_model("cifar10-resnet20", weights="random")
    fast = expanded_weights(model, "layer1.1", "layer2.1", units=[0, 13, 31])
    slow = expanded_weights_loop(model, "layer1.1", "layer2.1", units=[0, 13, 31])
    assert fast.shape == (3, 16, 32, 32)
    assert torch.allclose(fast, slow, atol=1e-6)


@pytest.mark.slow
def test_inceptionv1_shapes_and_brute_force_on_a_few_channels():
    model = load_model("inceptionv1", weights="random")
    ew = ExpandedWeights(model)
    chans = [0, 300, 507]  # 1x1, 3x3 and pool branches
    w = ew.compute("maxpool4", "mixed4a", crop=5, units=chans)
    assert w.shape == (3, 480, 5, 5)
    assert ew.last_size[0] < 14  # a receptive-field window was used ...
    slow = ew.compute_loop("maxpool4", "mixed4a", crop=5, units=chans)
    assert torch.allclose(w, slow, atol=1e-6)  # ... and agrees with the full-size loop
    assert ew.compute("mixed3a", "mixed3b", units=[479]).shape == (1, 256, 28, 28)


@pytest.mark.shared
def test_real_cifar_weights_match_brute_force_on_a_few_channels(hub_cache):
    model = load_model("cifar10-resnet20")  # the published weights, from the shared cache
    chans = [0, 17, 63]
    fast = expanded_weights(model, "layer2.2", "layer3.1", units=chans, crop="auto")
    slow = expanded_weights_loop(model, "layer2.2", "layer3.1", units=chans, crop="auto")
    assert fast.shape[:2] == (3, 32) and fast.abs().max() > 0
    assert torch.allclose(fast, slow, atol=1e-5)
