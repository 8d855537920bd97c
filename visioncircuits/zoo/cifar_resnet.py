"""The original CIFAR-10 ResNets (He et al. 2016, "option A" shortcuts), as published by
akamaster/pytorch_resnet_cifar10: depths 20, 32, 44, 56, 110.

Every nonlinearity and the shortcut are modules, so each is a hook point; none has
parameters, so the published state dicts load unchanged (after stripping ``module.``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from visioncircuits.zoo.registry import register
from visioncircuits.zoo.spec import IMAGENET_MEAN, IMAGENET_STD, ModelSpec

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
URL = "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/{}"
PUBLISHED = {
    20: "resnet20-12fca82f.th",
    32: "resnet32-d509ac18.th",
    44: "resnet44-014dd654.th",
    56: "resnet56-4bfd9763.th",
    110: "resnet110-1d1ed7c2.th",
}


class ShortcutA(nn.Module):
    """Option A: identity, or stride-2 subsampling with zero-padded extra channels."""

    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.stride = stride
        self.pad = (planes - in_planes) // 2 if (stride != 1 or in_planes != planes) else 0
        self.active = stride != 1 or in_planes != planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        return F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, self.pad, self.pad))


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = ShortcutA(in_planes, planes, stride)
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, depth: int = 20, num_classes: int = 10):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        planes_in = 16
        stages = []
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(planes_in, planes, stride if i == 0 else 1))
                planes_in = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(self.flatten(self.avgpool(x)))


def _spec(depth: int) -> ModelSpec:
    fname = PUBLISHED[depth]
    n = (depth - 2) // 6
    return ModelSpec(
        name=f"cifar10-resnet{depth}",
        family="cifar_resnet",
        description=f"CIFAR-10 ResNet-{depth} (He et al. 2016, option-A shortcuts), akamaster's published weights, "
        "32x32 input",
        build=lambda: CifarResNet(depth),
        input_size=32,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        num_classes=10,
        class_names=CIFAR10_CLASSES,
        url=URL.format(fname),
        filename=fname,
        sha256=fname.split("-")[1].split(".")[0],
        main_layers=("relu",) + tuple(f"layer{s}.{i}" for s in (1, 2, 3) for i in range(n)),
        card="models/cifar10-resnet.md",
    )


for _d in PUBLISHED:
    register(_spec(_d))
