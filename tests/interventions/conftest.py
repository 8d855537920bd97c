"""Hand-built models whose intervention answers are known analytically, and a hand-built SAE.

``linear``: images in [0, 1] (no normalisation) -> ``mix`` (1x1 conv: channel 0 = red,
channel 1 = green, channel 2 = red + blue) -> global mean pool -> ``fc``:
logit 0 = 2*c0 + 3*c1 + 0*c2, logit 1 = c0 - c1 + c2. Everything is linear, so ablating a channel
removes exactly its weighted mean and attribution patching is exact.
``relu``: the same with a ReLU and a 1x1 conv ``mix2`` after ``mix`` (attribution is approximate).
"""
from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from visioncircuits.hooks import HookedModel

SIZE = 8
FC = torch.tensor([[2.0, 3.0, 0.0], [1.0, -1.0, 1.0]])


def _mix() -> nn.Conv2d:
    conv = nn.Conv2d(3, 3, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [1.0, 0, 1.0]])[:, :, None, None])
    return conv


def _fc() -> nn.Linear:
    fc = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        fc.weight.copy_(FC)
    return fc


def make_linear() -> HookedModel:
    net = nn.Sequential(OrderedDict(mix=_mix(), pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=_fc()))
    return HookedModel.wrap(net, input_size=SIZE, name="hand-linear")


def make_relu() -> HookedModel:
    mix2 = nn.Conv2d(3, 3, 1)
    with torch.no_grad():
        mix2.weight.copy_(torch.tensor([[1.0, -1.0, 0.5], [0.5, 1.0, -1.0], [-1.0, 0.5, 1.0]])[:, :, None, None])
        mix2.bias.copy_(torch.tensor([-0.2, 0.1, 0.0]))
    net = nn.Sequential(OrderedDict(mix=_mix(), relu=nn.ReLU(), mix2=mix2, relu2=nn.ReLU(),
                                    pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=_fc()))
    return HookedModel.wrap(net, input_size=SIZE, name="hand-relu")


@pytest.fixture
def linear_model() -> HookedModel:
    return make_linear()


@pytest.fixture
def relu_model() -> HookedModel:
    return make_relu()


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def other_images() -> torch.Tensor:
    return torch.rand(4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def sae_dir(tmp_path):
    """A ReLU SAE on ``mix`` (3 -> 4 latents) with hand-set weights: latent j reads and writes
    direction W_dec[j]; it is saved the project's way so ``sae:DIR:j`` addresses work."""
    from visioncircuits.sae.io import save_sae
    from visioncircuits.sae.models import SparseAutoencoder

    sae = SparseAutoencoder(3, 4, "relu", cfg={"layer": "mix", "model": "hand-linear"})
    dec = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0.6, 0.8, 0]])
    with torch.no_grad():
        sae.W_dec.copy_(dec)
        sae.W_enc.copy_(dec.t())
        sae.b_enc.copy_(torch.tensor([0.0, 0.0, -0.3, -0.5]))
        sae.b_dec.copy_(torch.tensor([0.1, 0.0, -0.1]))
        sae.input_scale.fill_(2.0)
    return str(save_sae(sae, tmp_path / "sae"))
