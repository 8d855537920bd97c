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
while redirection is on are the true values. How it is applied: a forward pre-hook and a
forward hook (``prepend=True``, so other hooks, e.g. an SAE splice, see and may replace our
output) on every ``nn.ReLU`` / ``nn.ReLU6`` module of ``model.net``; the module tree is not
changed and every hook is removed when the context exits, also on exceptions. In-place
ReLUs get a copy of their input, so the pre-activation survives for the backward pass.
Limitation: ReLUs called functionally (``F.relu`` / ``torch.relu`` inside a ``forward``)
have no module to hook and keep their true gradient.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import torch
from torch import nn


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
        inside = x > ctx.lo
        # g is d(loss)/d(output) and the optimiser descends: g < 0 raises the output
        escape = (~inside) & (g < 0)
        if ctx.hi is not None:
            above = x >= ctx.hi
            escape = escape | (above & (g > 0))
            inside = inside & ~above
        true = torch.where(inside, g, torch.zeros_like(g))
        redirected = torch.where(inside | escape, g, torch.zeros_like(g))
        if true.dim() == 0:
            return (redirected if bool(true == 0) else true), None, None
        # per image, as Lucid: redirect only where nothing gets through the true gradient
        silent = true.reshape(true.shape[0], -1).abs().amax(dim=1) == 0
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
    the block runs and ``handle.active`` is true; all hooks are removed on exit, also on
    exceptions. ``enabled=False`` hooks nothing (a no-op handle)."""
    handle = ReluRedirect()
    handles = []
    stash: dict = {}
    net = getattr(model, "net", model)
    try:
        if enabled:
            for name, module in net.named_modules():
                bounds = _bounds(module)
                if bounds is None:
                    continue

                key = id(module)

                def pre(mod, args, _key=key):
                    if not handle.active or not args or not isinstance(args[0], torch.Tensor):
                        return None
                    x = args[0]
                    stash[_key] = x
                    if getattr(mod, "inplace", False):
                        return (x.clone(),) + tuple(args[1:])  # keep the pre-activation intact
                    return None

                def post(_mod, _args, _out, _key=key, _bounds=bounds):
                    x = stash.pop(_key, None)
                    if x is None or not handle.active or not x.requires_grad:
                        return None
                    return _RedirectedClamp.apply(x, *_bounds)

                handles.append(module.register_forward_pre_hook(pre, prepend=True))
                handles.append(module.register_forward_hook(post, prepend=True))
                handle.modules.append(name)
        yield handle
    finally:
        for h in handles:
            h.remove()
        stash.clear()
        handle.active = False
