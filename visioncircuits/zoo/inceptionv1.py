"""The Lucid InceptionV1 ("inception5h", the GoogLeNet of the Distill Circuits thread).

Why our own module rather than lucent's: every Lucid tensor name is a real ``nn.Module``
here (``conv2d0``, ``mixed3b_5x5``, ``maxpool4``, ``localresponsenorm0``, ``mixed4a``, ...)
so any of them is a hook point, the state dict keys are exactly lucent's (the published
``inception5h.pth`` loads unchanged), and the local response normalisation uses the TF
graph's parameters. lucent's module passes ``size=9, k=1`` (a known bug, lucent PR #51),
which changes every activation after ``maxpool0``; ``inceptionv1-lucent`` keeps that variant
for side-by-side comparisons.

Padding and pooling mirror lucent's forward exactly (TF "SAME" padding done with explicit
``F.pad``, max pools padded with -inf), so with the same weights activations agree exactly
up to the first LRN.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from visioncircuits.zoo.registry import register
from visioncircuits.zoo.spec import ModelSpec

URL = "https://github.com/ProGamerGov/pytorch-old-tensorflow-models/raw/master/inception5h.pth"
FILENAME = "inception5h.pth"

# TF graph: depth_radius 5, alpha 1e-4, beta 0.5, bias 2. PyTorch divides alpha by size.
LRN_TF = dict(size=11, alpha=0.0011, beta=0.5, k=2.0)
LRN_LUCENT = dict(size=9, alpha=9.99999974738e-05, beta=0.5, k=1.0)

# name: (in, 1x1, 3x3 bottleneck, 3x3, 5x5 bottleneck, 5x5, pool reduce)
BLOCKS: dict[str, tuple[int, ...]] = {
    "mixed3a": (192, 64, 96, 128, 16, 32, 32),
    "mixed3b": (256, 128, 128, 192, 32, 96, 64),
    "mixed4a": (480, 192, 96, 204, 16, 48, 64),
    "mixed4b": (508, 160, 112, 224, 24, 64, 64),
    "mixed4c": (512, 128, 128, 256, 24, 64, 64),
    "mixed4d": (512, 112, 144, 288, 32, 64, 64),
    "mixed4e": (528, 256, 160, 320, 32, 128, 128),
    "mixed5a": (832, 256, 160, 320, 48, 128, 128),
    "mixed5b": (832, 384, 192, 384, 48, 128, 128),
}
# The stride-2 max pool that runs before a block (Lucid's names).
POOL_BEFORE = {"mixed4a": "maxpool4", "mixed5a": "maxpool10"}
MAIN_LAYERS = ("conv2d0", "conv2d1", "conv2d2") + tuple(BLOCKS)


class PadConv2d(nn.Conv2d):
    """A conv with TF-style explicit zero padding (left, right, top, bottom) applied first.

    A subclass, not a wrapper, so the parameters keep lucent's key names.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, pad: Sequence[int] = (0, 0, 0, 0)):
        super().__init__(cin, cout, kernel, stride=stride, bias=True)
        self.tf_pad = tuple(pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.tf_pad):
            x = F.pad(x, self.tf_pad)
        return super().forward(x)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", tf_pad={self.tf_pad}"


class PadMaxPool2d(nn.Module):
    """Max pool after -inf padding, as lucent does it (TF "SAME" pooling)."""

    def __init__(self, stride: int, pad: Sequence[int]):
        super().__init__()
        self.stride = stride
        self.tf_pad = tuple(pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, self.tf_pad, value=float("-inf"))
        return F.max_pool2d(x, (3, 3), stride=(self.stride, self.stride), padding=0, ceil_mode=False)

    def extra_repr(self) -> str:
        return f"kernel=3, stride={self.stride}, tf_pad={self.tf_pad}"


class Concat(nn.Module):
    """Channel concatenation of an inception block's branches (the ``mixedXX`` hook point)."""

    def forward(self, parts: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat(list(parts), 1)


class GlobalAvgPool(nn.Module):
    """``avgpool0``: mean over space. Equals the graph's 7x7 pool at 224 px, and unlike it
    still gives one vector per image at other input sizes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3), keepdim=True)


class InceptionV1(nn.Module):
    """InceptionV1 with Lucid's layer names as attributes; returns the 1008 logits.

    ``lrn`` is ``"tf"`` (the graph's normalisation, default) or ``"lucent"`` (lucent's).
    There is no ``softmax2`` module: the output is ``softmax2_pre_activation_matmul``.
    """

    def __init__(self, lrn: str = "tf", num_classes: int = 1008):
        super().__init__()
        if lrn not in ("tf", "lucent"):
            raise ValueError(f"lrn must be 'tf' or 'lucent', got {lrn!r}")
        p = LRN_TF if lrn == "tf" else LRN_LUCENT
        self.conv2d0_pre_relu_conv = PadConv2d(3, 64, 7, stride=2, pad=(2, 3, 2, 3))
        self.conv2d0 = nn.ReLU()
        self.maxpool0 = PadMaxPool2d(2, (0, 1, 0, 1))
        self.localresponsenorm0 = nn.LocalResponseNorm(int(p["size"]), p["alpha"], p["beta"], p["k"])
        self.conv2d1_pre_relu_conv = PadConv2d(64, 64, 1)
        self.conv2d1 = nn.ReLU()
        self.conv2d2_pre_relu_conv = PadConv2d(64, 192, 3, pad=(1, 1, 1, 1))
        self.conv2d2 = nn.ReLU()
        self.localresponsenorm1 = nn.LocalResponseNorm(int(p["size"]), p["alpha"], p["beta"], p["k"])
        self.maxpool1 = PadMaxPool2d(2, (0, 1, 0, 1))
        for name, (cin, c1, c3b, c3, c5b, c5, cp) in BLOCKS.items():
            if name in POOL_BEFORE:
                setattr(self, POOL_BEFORE[name], PadMaxPool2d(2, (0, 1, 0, 1)))
            self._add_block(name, cin, c1, c3b, c3, c5b, c5, cp)
        self.avgpool0 = GlobalAvgPool()
        self.softmax2_pre_activation_matmul = nn.Linear(1024, num_classes)

    def _add_block(self, name: str, cin: int, c1: int, c3b: int, c3: int, c5b: int, c5: int, cp: int) -> None:
        convs = {
            "1x1": PadConv2d(cin, c1, 1),
            "3x3_bottleneck": PadConv2d(cin, c3b, 1),
            "5x5_bottleneck": PadConv2d(cin, c5b, 1),
            "pool_reduce": PadConv2d(cin, cp, 1),
            "3x3": PadConv2d(c3b, c3, 3, pad=(1, 1, 1, 1)),
            "5x5": PadConv2d(c5b, c5, 5, pad=(2, 2, 2, 2)),
        }
        setattr(self, f"{name}_pool", PadMaxPool2d(1, (1, 1, 1, 1)))
        for branch, conv in convs.items():
            setattr(self, f"{name}_{branch}_pre_relu_conv", conv)
            setattr(self, f"{name}_{branch}", nn.ReLU())
        setattr(self, name, Concat())

    def _block(self, name: str, x: torch.Tensor) -> torch.Tensor:
        m = lambda suffix: getattr(self, f"{name}_{suffix}")  # noqa: E731
        b1 = m("1x1")(m("1x1_pre_relu_conv")(x))
        b3 = m("3x3_bottleneck")(m("3x3_bottleneck_pre_relu_conv")(x))
        b5 = m("5x5_bottleneck")(m("5x5_bottleneck_pre_relu_conv")(x))
        bp = m("pool_reduce")(m("pool_reduce_pre_relu_conv")(m("pool")(x)))
        b3 = m("3x3")(m("3x3_pre_relu_conv")(b3))
        b5 = m("5x5")(m("5x5_pre_relu_conv")(b5))
        return getattr(self, name)((b1, b3, b5, bp))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool0(self.conv2d0(self.conv2d0_pre_relu_conv(x)))
        x = self.conv2d1(self.conv2d1_pre_relu_conv(self.localresponsenorm0(x)))
        x = self.localresponsenorm1(self.conv2d2(self.conv2d2_pre_relu_conv(x)))
        x = self.maxpool1(x)
        for name in BLOCKS:
            if name in POOL_BEFORE:
                x = getattr(self, POOL_BEFORE[name])(x)
            x = self._block(name, x)
        x = torch.flatten(self.avgpool0(x), 1)
        return self.softmax2_pre_activation_matmul(x)


def _spec(name: str, lrn: str, description: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        family="inceptionv1",
        description=description,
        build=lambda: InceptionV1(lrn=lrn),
        input_size=224,
        mean=(117.0, 117.0, 117.0),
        std=(1.0, 1.0, 1.0),
        scale=255.0,
        num_classes=1008,
        url=URL,
        filename=FILENAME,
        sha256=None,  # no published digest found; strict key/shape checking guards the load
        main_layers=MAIN_LAYERS,
        card="models/inceptionv1.md",
        extra={"lrn": dict(LRN_TF if lrn == "tf" else LRN_LUCENT)},
    )


register(
    _spec(
        "inceptionv1",
        "tf",
        "Lucid InceptionV1 (inception5h, Circuits thread), Lucid layer names, TF-correct LRN, 224px",
    )
)
register(
    _spec(
        "inceptionv1-lucent", "lucent", "InceptionV1 with lucent's LRN (size 9, k 1) for comparisons with lucent, 224px"
    )
)
