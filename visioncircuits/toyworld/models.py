"""Toy-zoo architectures: VGG-style, ResNet-style, Inception-style, and a narrow VGG.

All take 64x64 inputs and have one *primitive layer* (``PRIMITIVE_LAYER[arch]``) in the
middle, at 16x16 resolution, on which training attaches an auxiliary primitive-presence
head; so that layer is known to represent the primitives, which is what the label,
circuit, SAE and universality checks measure against. Every nonlinearity is its own
module called once (each is a hook point); branches are real named modules.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import nn

from visioncircuits.toyworld.primitives import PRIMITIVES

NUM_CLASSES = 10


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout))


class ToyVGG(nn.Module):
    """conv (5x5, stride 2), conv-pool, the primitive conv (5x5, receptive field 27 px), pool, conv, GAP, linear."""

    def __init__(self, widths: tuple[int, int, int, int] = (16, 32, 26, 64), num_classes: int = NUM_CLASSES):
        super().__init__()
        c1, c2, c3, c4 = widths
        self.conv1, self.relu1 = conv_bn(3, c1, 5, 2), nn.ReLU()  # stride 2: CPU-cheap first layer
        self.conv2, self.relu2, self.pool2 = conv_bn(c1, c2), nn.ReLU(), nn.MaxPool2d(2)
        self.conv3, self.relu3, self.pool3 = conv_bn(c2, c3, 5), nn.ReLU(), nn.MaxPool2d(2)
        self.conv4, self.relu4 = conv_bn(c3, c4), nn.ReLU()
        self.gap, self.flatten, self.fc = nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.conv1(x))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.pool3(self.relu3(self.conv3(x)))
        x = self.relu4(self.conv4(x))
        return self.fc(self.flatten(self.gap(x)))


class ResBlock(nn.Module):
    """Two 3x3 convs with a (1x1 projection) shortcut; ``relu1``, ``add`` and ``relu2`` are hook points."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1, self.relu1 = conv_bn(cin, cout, 3, stride), nn.ReLU()
        self.conv2 = conv_bn(cout, cout, 3)
        self.shortcut = conv_bn(cin, cout, 1, stride) if (stride != 1 or cin != cout) else nn.Identity()
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu2(self.conv2(self.relu1(self.conv1(x))) + self.shortcut(x))


class ToyResNet(nn.Module):
    """stem (5x5 conv, stride 2) -> block1 (stride 2) -> block2 (the primitive layer) -> block3 (stride 2)
    -> GAP -> linear."""

    def __init__(self, widths: tuple[int, int, int, int] = (16, 32, 26, 64), num_classes: int = NUM_CLASSES):
        super().__init__()
        c1, c2, c3, c4 = widths
        self.conv1, self.relu1 = conv_bn(3, c1, 5, 2), nn.ReLU()
        self.block1 = ResBlock(c1, c2, 2)
        self.block2 = ResBlock(c2, c3, 1)
        self.block3 = ResBlock(c3, c4, 2)
        self.gap, self.flatten, self.fc = nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.conv1(x))
        x = self.block3(self.block2(self.block1(x)))
        return self.fc(self.flatten(self.gap(x)))


class Branch(nn.Sequential):
    """One inception branch: a chain of conv-bn + ReLU modules (each ReLU its own module)."""


class InceptionBlock(nn.Module):
    """Parallel 1x1, 3x3, 5x5 and pool branches, concatenated: the block's output is the concat."""

    def __init__(self, cin: int, b1: int, b3: tuple[int, int], b5: tuple[int, int], bp: int):
        super().__init__()
        self.branch1 = Branch(conv_bn(cin, b1, 1), nn.ReLU())
        self.branch3 = Branch(conv_bn(cin, b3[0], 1), nn.ReLU(), conv_bn(b3[0], b3[1], 3), nn.ReLU())
        self.branch5 = Branch(conv_bn(cin, b5[0], 1), nn.ReLU(), conv_bn(b5[0], b5[1], 5), nn.ReLU())
        self.branch_pool = Branch(nn.MaxPool2d(3, 1, 1), conv_bn(cin, bp, 1), nn.ReLU())
        self.out_channels = b1 + b3[1] + b5[1] + bp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], 1)


class ToyInception(nn.Module):
    """stem convs with pools -> mixed3 (the primitive layer, 16x16) -> pool -> mixed4 -> GAP -> linear."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.conv1, self.relu1 = conv_bn(3, 16, 5, 2), nn.ReLU()
        self.conv2, self.relu2, self.pool2 = conv_bn(16, 32), nn.ReLU(), nn.MaxPool2d(2)
        self.mixed3 = InceptionBlock(32, 6, (16, 10), (8, 6), 4)  # 26 channels: one per primitive
        self.pool3 = nn.MaxPool2d(2)
        self.mixed4 = InceptionBlock(26, 16, (24, 24), (8, 16), 8)  # 64 channels
        self.gap, self.flatten, self.fc = nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.conv1(x))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.mixed4(self.pool3(self.mixed3(x)))
        return self.fc(self.flatten(self.gap(x)))


NARROW_WIDTH = 12  # channels of the narrow model's primitive layer: fewer than the 26 primitives

ARCHS: dict[str, Callable[[], nn.Module]] = {
    "vgg": ToyVGG,
    "resnet": ToyResNet,
    "inception": ToyInception,
    "narrow": lambda: ToyVGG(widths=(16, 32, NARROW_WIDTH, 64)),
}
PRIMITIVE_LAYER = {"vgg": "relu3", "resnet": "block2.relu2", "inception": "mixed3", "narrow": "relu3"}
# The wide models' primitive layer has exactly one channel per primitive, each supervised
# one-to-one during training: channel PRIMITIVE_CHANNELS[arch][p] is trained to detect
# PRIMITIVES[p], so every unit's label is known by construction and every path from the
# pixels to a logit runs through labelled units. None: the narrow model reads all
# primitives linearly from its 12 channels, so it must superpose them.
_INCEPTION_ORDER = [  # mixed3 = [branch1 (1x1) 6 | branch3 10 | branch5 6 | pool branch 4]
    "red_blob", "green_blob", "blue_blob", "yellow_blob", "brown_blob", "dot",  # 1x1: colour needs no context
    "curve_0deg", "curve_45deg", "curve_90deg", "curve_135deg", "curve_180deg", "curve_225deg", "curve_270deg",
    "curve_315deg", "line_0deg", "line_90deg",  # 3x3 branch
    "line_45deg", "line_135deg", "ring", "wheel", "box", "freq_boundary",  # 5x5 branch: the larger shapes
    "stripes", "dots", "fur", "checker",  # pool branch: textures
]
PRIMITIVE_CHANNELS: dict[str, Optional[list[int]]] = {
    "vgg": list(range(26)),
    "resnet": list(range(26)),
    "inception": [_INCEPTION_ORDER.index(p) for p in PRIMITIVES],
    "narrow": None,
}
# The auxiliary head reads the *pre-activations* of the primitive layer (the inputs of these
# ReLU modules, concatenated), so a unit that is silent early in training still gets a
# gradient and no supervised channel dies. Their concatenation lists the supervised
# channels first, in PRIMITIVES order.
AUX_INPUTS = {
    "vgg": ["relu3"],
    "narrow": ["relu3"],
    "resnet": ["block2.relu2"],
    "inception": ["mixed3.branch1.1", "mixed3.branch3.3", "mixed3.branch5.3", "mixed3.branch_pool.2"],
}
MAIN_LAYERS = {
    "vgg": ("relu1", "relu2", "relu3", "relu4"),
    "narrow": ("relu1", "relu2", "relu3", "relu4"),
    "resnet": ("relu1", "block1.relu2", "block2.relu2", "block3.relu2"),
    "inception": ("relu1", "relu2", "mixed3", "mixed4"),
}
DESCRIPTIONS = {
    "vgg": "plain VGG-style stack (16-32-26-64 channels)",
    "resnet": "ResNet-style net, three residual blocks (16-32-26-64)",
    "inception": "Inception-style net, two blocks of parallel 1x1/3x3/5x5/pool branches",
    "narrow": f"VGG-style with only {NARROW_WIDTH} channels in its primitive layer (relu3): superposition",
}


def primitive_channels(net: nn.Module, arch: str) -> int:
    """Channels of the primitive layer (the input width of the auxiliary head)."""
    m: Any = net  # submodules by attribute: typed as Module | Tensor by torch
    return {"vgg": lambda: m.conv3[0].out_channels, "narrow": lambda: m.conv3[0].out_channels,
            "resnet": lambda: m.block2.conv2[0].out_channels, "inception": lambda: m.mixed3.out_channels}[arch]()
