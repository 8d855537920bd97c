"""Expanded weights on the real architectures against an independent reference.

The reference never touches ``linearize()`` or ``ExpandedWeights``: each block between the
two layers is written out by hand with ``torch.nn.functional`` from the modules' weights,
with the project's definition of the linear path (ReLU -> identity, local response norm ->
identity, max pool -> average pool over the same window with the -inf padding read as zero,
BatchNorm in eval mode -> its affine map), and the rows are the Jacobian of the upper
layer's centre (``H // 2``) with respect to the lower layer's map, by ``torch.func.jacrev``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.func import jacrev

from visioncircuits.circuits.expanded import ExpandedWeights
from visioncircuits.zoo import load_model


def _centre(y: torch.Tensor) -> torch.Tensor:
    return y[:, :, y.shape[2] // 2, y.shape[3] // 2]


def _reference(f, lower_shape, rows=None) -> torch.Tensor:
    """Rows [R, C, H, W]: the Jacobian of ``f`` (lower map -> upper centre, channels ``rows``
    or all) at zero."""
    pick = (lambda v: v) if rows is None else (lambda v: v[list(rows)])
    return jacrev(lambda a: pick(_centre(f(a[None]))[0]))(torch.zeros(*lower_shape))


# ---------------------------------------------------------------- InceptionV1
def _conv(mod, x):
    """A PadConv2d by hand: explicit TF padding, then the convolution."""
    return F.conv2d(F.pad(x, mod.tf_pad) if any(mod.tf_pad) else x, mod.weight, mod.bias, stride=mod.stride)


def _avg_for_max(x, stride, pad):
    """A 3x3 max pool padded with -inf, linearised: zero padding, then the 3x3 average."""
    return F.avg_pool2d(F.pad(x, pad), 3, stride=stride)


def _mixed(net, name, x):
    m = lambda s: getattr(net, f"{name}_{s}")  # noqa: E731
    b1 = _conv(m("1x1_pre_relu_conv"), x)
    b3 = _conv(m("3x3_pre_relu_conv"), _conv(m("3x3_bottleneck_pre_relu_conv"), x))
    b5 = _conv(m("5x5_pre_relu_conv"), _conv(m("5x5_bottleneck_pre_relu_conv"), x))
    bp = _conv(m("pool_reduce_pre_relu_conv"), _avg_for_max(x, 1, (1, 1, 1, 1)))
    return torch.cat([b1, b3, b5, bp], 1)


@pytest.fixture(scope="module")
def inception():
    torch.manual_seed(0)
    return load_model("inceptionv1", weights="random")


@pytest.mark.slow  # 10-40 s each on 2 shared cores (a 64 px InceptionV1, Jacobians of 40-70 rows)
@pytest.mark.parametrize("lower,upper", [("mixed3a", "mixed3b"), ("conv2d2", "mixed3a"), ("mixed3b", "mixed4a")])
def test_inceptionv1_matches_hand_written_linear_blocks(inception, lower, upper):
    net, size = inception.net, 64  # 64 px: 8x8 maps at mixed3, small enough for a full Jacobian
    blocks = {
        ("mixed3a", "mixed3b"): lambda a: _mixed(net, "mixed3b", a),
        # conv2d2 -> LRN (identity) -> maxpool1 (stride 2, pad right/bottom) -> mixed3a
        ("conv2d2", "mixed3a"): lambda a: _mixed(net, "mixed3a", _avg_for_max(a, 2, (0, 1, 0, 1))),
        # mixed3b -> maxpool4 (stride 2) -> mixed4a
        ("mixed3b", "mixed4a"): lambda a: _mixed(net, "mixed4a", _avg_for_max(a, 2, (0, 1, 0, 1))),
    }
    shape = inception.layer_info(size)[lower].shape
    rows = list(range(0, inception.channels(upper), 7))  # every branch of the concat, at a fraction of the cost
    with torch.no_grad():
        ref = _reference(blocks[(lower, upper)], shape, rows)
    ew = ExpandedWeights(inception, size=size)
    ours = ew.compute(lower, upper, units=rows)
    assert ours.shape == ref.shape
    assert ref.abs().max() > 0
    scale = float(ref.abs().max())
    assert torch.allclose(ours, ref, atol=1e-5 * scale, rtol=1e-4)


# ---------------------------------------------------------------- CIFAR ResNet
def _bn(bn, x):
    s = (bn.weight / torch.sqrt(bn.running_var + bn.eps))[None, :, None, None]
    return (x - bn.running_mean[None, :, None, None]) * s + bn.bias[None, :, None, None]


def _basic_block(b, x):
    out = _bn(b.bn1, F.conv2d(x, b.conv1.weight, stride=b.conv1.stride, padding=1))
    out = _bn(b.bn2, F.conv2d(out, b.conv2.weight, padding=1))
    if b.shortcut.active:  # option A: subsample, zero-pad the extra channels
        p = b.shortcut.pad
        x = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p))
    return out + x


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    model = load_model("cifar10-resnet20", weights="random")
    with torch.no_grad():  # non-trivial BatchNorm maps, so their scales matter
        for m in model.net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.3, 3)
                m.weight.uniform_(-1.5, 1.5)
                m.bias.uniform_(-1, 1)
    return model


@pytest.mark.parametrize(
    "lower,upper,blocks",
    [
        ("layer1.2", "layer2.0", ["layer2.0"]),  # stride 2 and the zero-padded shortcut
        ("layer1.2", "layer2.1", ["layer2.0", "layer2.1"]),  # two residual blocks
        ("layer3.0", "layer3.2", ["layer3.1", "layer3.2"]),
    ],
)
def test_cifar_resnet_matches_hand_written_linear_blocks(resnet, lower, upper, blocks):
    mods = [resnet.net.get_submodule(b) for b in blocks]

    def f(a):
        for b in mods:
            a = _basic_block(b, a)
        return a

    with torch.no_grad():
        ref = _reference(f, resnet.layer_info(32)[lower].shape)
    ours = ExpandedWeights(resnet).compute(lower, upper)
    assert ours.shape == ref.shape
    scale = float(ref.abs().max())
    assert scale > 0
    assert torch.allclose(ours, ref, atol=1e-5 * scale, rtol=1e-4)


# ---------------------------------------------------------------- MobileNet (V2 and V1)
def _same(x, conv):
    """TF "SAME" padding written out: total = max((ceil(n / s) - 1) * s + k - n, 0), odd pixel after."""
    k, s = conv.kernel_size[0], conv.stride[0]
    n = x.shape[-1]
    total = max((-(-n // s) - 1) * s + k - n, 0)
    x = F.pad(x, (total // 2, total - total // 2, total // 2, total - total // 2))
    return F.conv2d(x, conv.weight, conv.bias, stride=s, groups=conv.groups)


def _inverted_residual(b, x):
    y = _same(x, b.expand) if hasattr(b, "expand") else x  # ReLU6 -> identity
    y = _same(_same(y, b.dw), b.project)
    return x + y if b.residual else y


def _depthwise_separable(b, x):
    return _same(_same(x, b.dw), b.pw)


@pytest.mark.slow  # 10-25 s each on 2 shared cores
@pytest.mark.parametrize(
    "name,lower,upper,blocks,size",
    [
        ("mobilenet-v2", "blocks.1", "blocks.3", ["blocks.2", "blocks.3"], 64),  # residual add, then stride 2
        ("mobilenet-v1", "blocks.4", "blocks.6", ["blocks.5", "blocks.6"], 64),  # stride-2 depthwise
    ],
)
def test_mobilenet_matches_hand_written_linear_blocks(name, lower, upper, blocks, size):
    torch.manual_seed(0)
    model = load_model(name, weights="random")
    mods = [model.net.get_submodule(b) for b in blocks]
    step = _inverted_residual if name == "mobilenet-v2" else _depthwise_separable

    def f(a):
        for b in mods:
            a = step(b, a)
        return a

    rows = list(range(0, model.channels(upper), 5))
    with torch.no_grad():
        ref = _reference(f, model.layer_info(size)[lower].shape, rows)
    ours = ExpandedWeights(model, size=size).compute(lower, upper, units=rows)
    assert ours.shape == ref.shape
    scale = float(ref.abs().max())
    assert scale > 0
    assert torch.allclose(ours, ref, atol=1e-5 * scale, rtol=1e-4)
