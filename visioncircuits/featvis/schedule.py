"""Fewer steps to the same quality: learning-rate schedules and early stop on a plateau.

Both are opt-in (``RenderConfig.lr_schedule``, ``RenderConfig.early_stop``); the default
(constant lr, every step run) keeps existing renders unchanged.
"""
from __future__ import annotations

import math
from typing import Optional

from visioncircuits.errors import InputError, unknown

SCHEDULES = ("constant", "cosine", "warmup_cosine")


def check_schedule(name: str) -> None:
    if name not in SCHEDULES:
        raise unknown("lr schedule", name, list(SCHEDULES))


def lr_factor(schedule: str, step: int, steps: int, floor: float = 0.1) -> float:
    """Multiplier of the base lr at ``step`` (1-based) of ``steps``.

    ``cosine`` decays from 1 to ``floor``; ``warmup_cosine`` first rises linearly over the
    first 10 % of steps (Adam's first steps are large anyway; this tames them), then decays.
    """
    check_schedule(schedule)
    if schedule == "constant" or steps <= 1:
        return 1.0
    warm = max(1, steps // 10) if schedule == "warmup_cosine" else 0
    if step <= warm:
        return step / warm
    t = (step - warm) / max(1, steps - warm)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


class PlateauStop:
    """Stop when the mean objective has improved by less than ``rel_tol`` (relative) over
    the last ``window`` steps.

    It reads the training objective already computed at each step (on transformed images,
    so it is noisy: an exponential moving average smooths it), never adds a forward pass.
    """

    def __init__(self, rel_tol: Optional[float], steps: int, window: Optional[int] = None, min_steps: int = 0):
        if rel_tol is not None and rel_tol < 0:
            raise InputError(f"early_stop must be >= 0, got {rel_tol}")
        self.rel_tol = rel_tol
        self.window = int(window or max(8, steps // 8))
        self.min_steps = max(int(min_steps), 2 * self.window)
        self.ema: Optional[float] = None
        self.trace: list = []

    def update(self, value: float) -> bool:
        """Record this step's mean objective; True when the run should stop."""
        if self.rel_tol is None:
            return False
        self.ema = value if self.ema is None else 0.8 * self.ema + 0.2 * value
        self.trace.append(self.ema)
        n = len(self.trace)
        if n < self.min_steps:
            return False
        old, new = self.trace[n - 1 - self.window], self.trace[-1]
        return new - old <= self.rel_tol * max(abs(old), 1e-8)
