"""TensorFlow "SAME" padding and the small parameter-free modules TF graphs need.

Why not ``nn.Conv2d(padding=k // 2)``: TF pads ``total = max((ceil(n/s) - 1) * s + k - n, 0)``
pixels and puts the odd one *after* (bottom/right). For a stride-2 3x3 conv on an even input
that is 0 before and 1 after, whereas symmetric padding shifts every output by half a pixel;
on the TFLite MobileNets symmetric padding alone costs about 9 points of top-1. The pads are
computed from the actual input size at each call, so the model runs at any resolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def tf_same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) zero padding TF's "SAME" uses along one axis of length ``size``."""
    out = -(-size // stride)
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TF "SAME" padding computed from each input's height and width.

    A subclass (not a wrapper) so the parameters are plain ``weight``/``bias`` keys.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, bias: bool = True):
        super().__init__(cin, cout, kernel, stride=stride, padding=0, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s, d = self.kernel_size[0], self.stride[0], self.dilation[0]
        top, bottom = tf_same_pads(x.shape[-2], k, s, d)
        left, right = tf_same_pads(x.shape[-1], self.kernel_size[1], self.stride[1], self.dilation[1])
        if top == bottom and left == right:  # symmetric: let the conv pad (no copy)
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), self.dilation, self.groups)
        x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return super().extra_repr() + ", padding=TF SAME"


class Add(nn.Module):
    """A residual sum as a module, so the sum itself is a hook point."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


class GlobalAvgPool(nn.Module):
    """Mean over space, keeping (N, C, 1, 1): one vector per image at any input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3), keepdim=True)
