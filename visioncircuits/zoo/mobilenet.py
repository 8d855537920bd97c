"""ImageNet MobileNetV2 1.0 and MobileNetV1 (1.0/224, 0.75/192), following the TFLite graphs.

Why our own modules rather than torchvision's: the published weights are Google's
quantization-aware-trained TFLite models, whose graphs use TF "SAME" padding (asymmetric for
stride 2, see ``tf_same.py``), ReLU6 and BatchNorm folded into every conv's bias. torchvision
pads symmetrically, which costs ~9 points of top-1 on these weights.

Hook points (dotted module paths; every nonlinearity and residual sum is its own module):

- MobileNetV2: ``stem`` (conv), ``stem_relu6``; in block ``blocks.i``: ``expand`` (1x1 conv,
  absent in block 0), ``expand_relu6``, ``dw`` (3x3 depthwise conv), ``dw_relu6``, ``project``
  (linear 1x1 conv), ``add`` (the residual sum, blocks with stride 1 and equal channels);
  ``blocks.i`` itself is the block output; then ``head`` (1x1 conv to 1280), ``head_relu6``,
  ``pool``, ``classifier``.
- MobileNetV1: ``stem``, ``stem_relu6``; in ``blocks.i``: ``dw``, ``dw_relu6``, ``pw``
  (pointwise conv), ``pw_relu6`` (= the block output ``blocks.i``); ``pool``, ``classifier``.

Classes: 1000 logits, index i = the i-th ImageNet class in sorted-wnid order
(``imagenet_classes.py``). The TFLite files have 1001, with "background" at 0; that row is
dropped when the weights are loaded (``drop_background``), so files with either layout load.
Input: RGB in [0, 1], mapped inside to ``x * 2 - 1`` = [-1, 1] as the TFLite models expect.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from visioncircuits.zoo.imagenet_classes import imagenet_class_names
from visioncircuits.zoo.registry import register
from visioncircuits.zoo.spec import ModelSpec
from visioncircuits.zoo.tf_same import Add, GlobalAvgPool, SameConv2d

MODELS_DIR = Path(__file__).resolve().parents[2] / "models" / "mobilenet"
CARD = "models/mobilenet.md"

# MobileNetV2 paper, Table 2: (expansion, output channels, repeats, stride of the first)
V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
# MobileNetV1 paper, Table 1: (pointwise output channels, depthwise stride) per block
V1_BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)


def _round8(channels: float) -> int:
    """TF-slim's channel rounding for MobileNetV2: nearest multiple of 8, never 10% below."""
    rounded = max(8, int(channels + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * channels else rounded


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand + ReLU6, 3x3 depthwise + ReLU6, linear 1x1 project,
    plus the input when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        if expansion != 1:
            self.expand = SameConv2d(cin, hidden, 1)
            self.expand_relu6 = nn.ReLU6()
        self.dw = SameConv2d(hidden, hidden, 3, stride=stride, groups=hidden)
        self.dw_relu6 = nn.ReLU6()
        self.project = SameConv2d(hidden, cout, 1)
        self.residual = stride == 1 and cin == cout
        if self.residual:
            self.add = Add()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand_relu6(self.expand(x)) if hasattr(self, "expand") else x
        y = self.project(self.dw_relu6(self.dw(y)))
        return self.add(x, y) if self.residual else y


class MobileNetV2(nn.Module):
    """MobileNetV2 (width 1.0) with state-dict keys ``stem``, ``blocks.{0..16}.{expand,dw,project}``,
    ``head``, ``classifier``; returns ``num_classes`` logits."""

    def __init__(self, width_mult: float = 1.0, num_classes: int = 1000):
        super().__init__()
        cin = _round8(32 * width_mult)
        self.stem = SameConv2d(3, cin, 3, stride=2)
        self.stem_relu6 = nn.ReLU6()
        blocks = []
        for t, c, n, s in V2_STAGES:
            cout = _round8(c * width_mult)
            for i in range(n):
                blocks.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        last = _round8(1280 * max(1.0, width_mult))
        self.head = SameConv2d(cin, last, 1)
        self.head_relu6 = nn.ReLU6()
        self.pool = GlobalAvgPool()
        self.classifier = nn.Linear(last, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem_relu6(self.stem(x)))
        x = self.pool(self.head_relu6(self.head(x)))
        return self.classifier(torch.flatten(x, 1))


class DepthwiseSeparable(nn.Module):
    """MobileNetV1 block: 3x3 depthwise + ReLU6, 1x1 pointwise + ReLU6."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.dw = SameConv2d(cin, cin, 3, stride=stride, groups=cin)
        self.dw_relu6 = nn.ReLU6()
        self.pw = SameConv2d(cin, cout, 1)
        self.pw_relu6 = nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw_relu6(self.pw(self.dw_relu6(self.dw(x))))


class MobileNetV1(nn.Module):
    """MobileNetV1 with state-dict keys ``stem``, ``blocks.{0..12}.{dw,pw}``, ``classifier``."""

    def __init__(self, width_mult: float = 1.0, num_classes: int = 1000):
        super().__init__()
        ch = lambda c: max(int(c * width_mult), 8)  # noqa: E731  (TF-slim depth(), min_depth 8)
        cin = ch(32)
        self.stem = SameConv2d(3, cin, 3, stride=2)
        self.stem_relu6 = nn.ReLU6()
        blocks = []
        for c, s in V1_BLOCKS:
            blocks.append(DepthwiseSeparable(cin, ch(c), s))
            cin = ch(c)
        self.blocks = nn.Sequential(*blocks)
        self.pool = GlobalAvgPool()
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.blocks(self.stem_relu6(self.stem(x))))
        return self.classifier(torch.flatten(x, 1))


def drop_background(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """TFLite layout (1001 logits, background first) -> 1000 ImageNet classes, float32.

    Files with 1000 rows pass through; any other count is left for the strict loader to report.
    Shipped float16 tensors become float32 here, so the network always computes in float32.
    """
    out = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    w, b = out.get("classifier.weight"), out.get("classifier.bias")
    if w is not None and b is not None and w.shape[0] == 1001 and b.shape[0] == 1001:
        out["classifier.weight"], out["classifier.bias"] = w[1:].contiguous(), b[1:].contiguous()
    return out


V2_MAIN = (
    "stem_relu6",
    "blocks.0",
    "blocks.2",
    "blocks.5",
    "blocks.9",
    "blocks.12",
    "blocks.15",
    "blocks.16",
    "head_relu6",
)
V1_MAIN = ("stem_relu6", "blocks.0", "blocks.2", "blocks.4", "blocks.7", "blocks.10", "blocks.12")

# name: (family builder, width, input size, shipped file, description)
MODELS = {
    "mobilenet-v2": (
        MobileNetV2,
        1.0,
        224,
        "mobilenet_v2_1.0_224.fp16.safetensors",
        V2_MAIN,
        "MobileNetV2 1.0 (TFLite, Google), TF SAME padding, ReLU6, ImageNet 1000 classes, 224px",
    ),
    "mobilenet-v1": (
        MobileNetV1,
        1.0,
        224,
        "mobilenet_v1_1.0_224.fp16.safetensors",
        V1_MAIN,
        "MobileNetV1 1.0 (TFLite, Google), TF SAME padding, ReLU6, ImageNet 1000 classes, 224px",
    ),
    "mobilenet-v1-0.75-192": (
        MobileNetV1,
        0.75,
        192,
        "mobilenet_v1_0.75_192.fp16.safetensors",
        V1_MAIN,
        "MobileNetV1 0.75 (TFLite, Google), TF SAME padding, ReLU6, ImageNet 1000 classes, 192px",
    ),
}


def _spec(name: str) -> ModelSpec:
    cls, width, size, fname, main, description = MODELS[name]
    return ModelSpec(
        name=name,
        family="mobilenet",
        description=description,
        build=lambda: cls(width, num_classes=1000),
        input_size=size,
        mean=(0.5, 0.5, 0.5),  # (x - 0.5) / 0.5 = x * 2 - 1: [-1, 1] as the TFLite input
        std=(0.5, 0.5, 0.5),
        num_classes=1000,
        class_names=imagenet_class_names(),
        main_layers=main,
        card=CARD,
        default_weights=str(MODELS_DIR / fname),
        convert_state_dict=drop_background,
        extra={"width_mult": width, "arch": cls.__name__, "source": "tflite"},
    )


for _name in MODELS:
    register(_spec(_name))
