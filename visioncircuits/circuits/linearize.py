"""A linearised copy of a model: the path on which expanded weights are defined.

"Visualizing Weights" (Distill 2021) reads the weights between two non-adjacent layers off
a linear stand-in of the network: ReLU becomes the identity, max-pooling becomes
average-pooling, and BatchNorm (in eval mode) is already its affine map. With every step
between two layers linear, the map from the lower layer to the upper one is one fixed
matrix, and a single batched backward pass reads all of its rows at once.

Two kinds of nonlinearity are handled:

* modules (``nn.ReLU``, ``nn.MaxPool2d``, ``nn.LocalResponseNorm``, lucent's ``ReluLayer``,
  ...) are swapped in a deep copy, so the caller's model is never touched;
* functional calls inside ``forward`` (``F.relu``, ``F.max_pool2d``, ``x.relu()``, ...) are
  swapped for the duration of :func:`linear_functions`, a context that restores them in
  ``finally``. Max pools padded with ``-inf`` (TF "SAME" pooling, as in lucent's and our
  InceptionV1) get zero padding instead, so the average pool stays finite. The swap is
  process-wide while the block runs, so do not run other models in other threads meanwhile.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import math
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

# Elementwise nonlinearities that become the identity (by class name, so lucent's and
# timm's own activation modules are recognised too).
IDENTITY_ACTIVATIONS = {
    "relu", "relu6", "leakyrelu", "prelu", "rrelu", "elu", "celu", "selu", "gelu", "silu", "swish",
    "mish", "hardswish", "hardtanh", "softplus", "relulayer", "redirectedrelulayer", "localresponsenorm",
    "localresponsenormlayer", "dropout", "dropout2d", "droppath",
}


# Nonlinearities with no linear stand-in (gates, normalisers): kept, and reported.
KEPT_NONLINEAR = {"sigmoid", "tanh", "softmax", "hardsigmoid", "logsigmoid", "softmax2d", "multiheadattention"}


def _identity(x, *args, **kwargs):
    return x


def _avg_from_max(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    if return_indices:
        raise NotImplementedError("a max-pool that returns indices cannot be linearised")
    if dilation not in (1, (1, 1)):
        raise NotImplementedError("dilated max-pools cannot be linearised as average pools")
    return F.avg_pool2d(x, kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=False)


class _ToAvgPool(nn.Module):
    """``nn.MaxPool2d`` -> average pool over the same window (padding not counted)."""

    def __init__(self, pool: nn.MaxPool2d):
        super().__init__()
        self.kernel_size, self.stride, self.padding = pool.kernel_size, pool.stride, pool.padding
        self.dilation, self.ceil_mode = pool.dilation, pool.ceil_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _avg_from_max(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)  # pyright: ignore[reportArgumentType]


def _replacement(module: nn.Module) -> nn.Module | None:
    name = type(module).__name__.lower()
    if (
        name in IDENTITY_ACTIVATIONS
        and not any(True for _ in module.parameters(recurse=False))
        or isinstance(module, nn.PReLU)
    ):
        return nn.Identity()
    if isinstance(module, nn.MaxPool2d):
        return _ToAvgPool(module)
    if isinstance(module, nn.AdaptiveMaxPool2d):
        return nn.AdaptiveAvgPool2d(module.output_size)
    return None


def linearize_modules(net: nn.Module) -> int:
    """Swap nonlinear modules of ``net`` in place (keeping their names, so hooks still find
    them); returns how many were swapped."""
    swapped = 0
    for _parent_name, parent in list(net.named_modules()):
        for child_name, child in list(parent.named_children()):
            new = _replacement(child)
            if new is not None:
                setattr(parent, child_name, new)
                swapped += 1
    return swapped


def linearize(model):
    """An eval-mode deep copy of a :class:`~visioncircuits.hooks.HookedModel` with its
    nonlinear modules swapped; use it inside :func:`linear_functions`."""
    lin = copy.deepcopy(model).eval()
    for p in lin.parameters():
        p.requires_grad_(False)
    n = linearize_modules(lin.net)
    name = getattr(getattr(model, "spec", None), "name", "model")
    log.debug("linearised %d modules of %s", n, name)
    other = sorted({type(m).__name__ for m in lin.net.modules() if type(m).__name__.lower() in KEPT_NONLINEAR})
    if other:
        log.warning("%s has nonlinear modules that are not linearised (%s): its expanded weights are the "
                    "Jacobian at a zero image there", name, ", ".join(other))
    return lin


def _pad_no_inf(x, pad, mode="constant", value=None):
    if value is not None and isinstance(value, float) and math.isinf(value):
        value = 0.0
    return _ORIG["pad"](x, pad, mode=mode, value=value) if value is not None else _ORIG["pad"](x, pad, mode=mode)


_ORIG: dict = {}


@contextlib.contextmanager
def linear_functions() -> Iterator[None]:
    """Within this block, functional nonlinearities act linearly (restored on exit)."""
    targets = [
        (F, "relu", _identity), (F, "relu_", _identity), (F, "relu6", _identity), (F, "leaky_relu", _identity),
        (F, "gelu", _identity), (F, "silu", _identity), (F, "hardswish", _identity), (F, "elu", _identity),
        (F, "local_response_norm", _identity), (F, "dropout", _identity),
        (torch, "relu", _identity), (torch, "relu_", _identity),
        (torch.Tensor, "relu", _identity), (torch.Tensor, "relu_", _identity),
        (F, "max_pool2d", _avg_from_max), (torch, "max_pool2d", _avg_from_max),
        (F, "pad", _pad_no_inf),
    ]
    saved = []
    try:
        for owner, attr, fn in targets:
            if hasattr(owner, attr):
                saved.append((owner, attr, getattr(owner, attr)))
                if owner is F and attr == "pad":
                    _ORIG["pad"] = getattr(owner, attr)
                setattr(owner, attr, fn)
        yield
    finally:
        for owner, attr, fn in reversed(saved):
            setattr(owner, attr, fn)
