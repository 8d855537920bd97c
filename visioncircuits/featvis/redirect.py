"""Redirected ReLU gradients (Lucid's ``redirected_relu_grad``), scoped to one rendering.

Why: a ReLU unit that is exactly 0 on the initial (near-grey) image passes no gradient, so
the optimiser never moves and the rendering stays flat noise with objective 0. This is
common in small nets such as the toy zoo. Lucid's fix, reproduced here: in the backward
pass of a ReLU, for any image whose true ReLU gradient is zero everywhere, let through the
part of the incoming gradient that would *raise* the ReLU's input where it is negative
(that would make the dead unit fire), and keep blocking the part that would push it
further down. Images whose ReLU passes any true gradient get the true gradient. Rendering
uses it only for the first steps, then true gradients, so the final image optimises the
real objective.

The forward pass is unchanged (outputs are exactly ``relu(x)``), so objective values read
while redirection is on are the true values. How it is applied: the ``forward`` of every
``nn.ReLU`` / ``nn.ReLU6`` module of ``model.net`` is replaced on the instance while the
context runs (the module tree, its hooks and other hooks, e.g. an SAE splice, which see and
may replace the output, are untouched) and restored when it exits, also on exceptions.
Replacing ``forward`` rather than adding a pre-hook and a forward hook computes the clamp
once, never copies the input of an in-place ReLU, and builds the redirected gradient only
for a batch with a silent image (the true part is relu's own fused backward kernel): with
hooks and an unfused backward, the redirected steps cost about three true steps on MobileNetV2.
Limitation: ReLUs called functionally (``F.relu`` / ``torch.relu`` inside a ``forward``)
have no module to hook and keep their true gradient.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import torch
from torch import nn

from visioncircuits.module_forward import replaced_forwards


class _RedirectedClamp(torch.autograd.Function):
    """``clamp(x, lo, hi)`` forward; Lucid's redirected gradient backward (``hi`` may be None)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lo: float, hi: Optional[float]):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return x.clamp(min=lo) if hi is None else x.clamp(min=lo, max=hi)

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        (x,) = ctx.saved_tensors
        lo, hi = ctx.lo, ctx.hi
        # the true gradient by the fused kernels of relu/relu6: g where lo < x (< hi), else 0
        true = (torch.ops.aten.threshold_backward(g, x, lo) if hi is None
                else torch.ops.aten.hardtanh_backward(g, x, lo, hi))
        # per image, as Lucid: redirect only where nothing gets through the true gradient
        silent = ~true.reshape(true.shape[0], -1).any(dim=1) if true.dim() else ~true.bool()
        if not bool(silent.any()):  # the usual case once units fire: nothing more to build
            return true, None, None
        # g is d(loss)/d(output) and the optimiser descends: g < 0 raises the output
        passes = ((x > lo) | (g < 0)) if hi is None else (((x > lo) | (g < 0)) & ((x < hi) | (g > 0)))
        redirected = torch.where(passes, g, 0.0)
        if not true.dim():
            return redirected, None, None
        silent = silent.reshape((-1,) + (1,) * (true.dim() - 1))
        return torch.where(silent, redirected, true), None, None


def redirected_relu(x: torch.Tensor) -> torch.Tensor:
    """``relu(x)`` whose backward lets dead units be pushed up (see module docstring)."""
    return _RedirectedClamp.apply(x, 0.0, None)


def _bounds(module: nn.Module) -> Optional[tuple]:
    if isinstance(module, nn.ReLU6):
        return (0.0, 6.0)
    if isinstance(module, nn.ReLU):
        return (0.0, None)
    return None


class ReluRedirect:
    """Handle returned by :func:`redirect_relus`: ``active`` switches redirection on and off
    between steps (off: the hooks return nothing, so gradients are the true ones);
    ``modules`` lists the names of the hooked ReLU modules."""

    def __init__(self):
        self.active = True
        self.modules: list = []


@contextlib.contextmanager
def redirect_relus(model, enabled: bool = True) -> Iterator[ReluRedirect]:
    """Redirect the gradients of every ``nn.ReLU``/``nn.ReLU6`` module of ``model.net`` while
    the block runs and ``handle.active`` is true; every module's own ``forward`` is back on
    exit, also on exceptions. ``enabled=False`` changes nothing (a no-op handle)."""
    handle = ReluRedirect()
    replacements = []
    if enabled:
        for name, module in getattr(model, "net", model).named_modules():
            bounds = _bounds(module)
            if bounds is None:
                continue

            def forward(x, *args, _original=module.forward, _bounds=bounds, **kwargs):
                if handle.active and isinstance(x, torch.Tensor) and x.requires_grad:
                    return _RedirectedClamp.apply(x, *_bounds)  # never in place: x stays for backward
                return _original(x, *args, **kwargs)

            replacements.append((module, forward))
            handle.modules.append(name)
    try:
        with replaced_forwards(replacements):
            yield handle
    finally:
        handle.active = False
