"""Cheaper optimisation steps: autocast (bf16/fp16) and channels_last, opt-in.

Why separate from the render loop: these change how each step is computed, not what is
optimised, so they wrap the loop instead of living in it. Both run on any device:
autocast takes the model's device type, channels_last is a memory format. The objective
values a render reports are always computed in float32 (outside autocast).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from visioncircuits.errors import unknown

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(name: str) -> None:
    if name not in PRECISIONS:
        raise unknown("precision", name, list(PRECISIONS))


def autocast(device: torch.device, precision: str = "fp32") -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``precision`` on ``device``'s type; a no-op for fp32."""
    check_precision(precision)
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def to_channels_last(x: torch.Tensor, enabled: bool = True) -> torch.Tensor:
    """A 4-d tensor in channels_last memory format (same values); others pass through."""
    return x.contiguous(memory_format=torch.channels_last) if enabled and x.dim() == 4 else x


@contextlib.contextmanager
def channels_last_model(module: torch.nn.Module, enabled: bool = True) -> Iterator[torch.nn.Module]:
    """Keep ``module``'s 4-d parameters and buffers in channels_last inside the block.

    The values are untouched; the old memory format is restored on exit, so a model shared
    with other code looks the same afterwards.
    """
    if not enabled:
        yield module
        return
    changed = []
    for t in list(module.parameters()) + list(module.buffers()):
        if t.dim() == 4 and not t.is_contiguous(memory_format=torch.channels_last):
            changed.append((t, t.data))
            t.data = t.data.contiguous(memory_format=torch.channels_last)
    try:
        yield module
    finally:
        for t, old in changed:
            t.data = old


def describe(device: torch.device, precision: str, channels_last: bool) -> str:
    """A short label for bench tables: ``cpu fp32``, ``cuda bf16 channels_last``."""
    return f"{torch.device(device).type} {precision}" + (" channels_last" if channels_last else "")
