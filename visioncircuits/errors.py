"""Error types: every user mistake becomes one readable line in the CLI."""
from __future__ import annotations

import difflib
from typing import Iterable


class VisionCircuitsError(Exception):
    """Base class; the CLI prints ``str(err)`` on one line and exits non-zero."""


class UnknownNameError(VisionCircuitsError, KeyError):
    """An unknown model, layer or unit name; the message lists the closest valid names."""

    def __str__(self) -> str:  # KeyError would add quotes
        return self.args[0] if self.args else ""


class InputError(VisionCircuitsError, ValueError):
    """Bad argument value: wrong image shape/range, channel out of range, bad spec."""


class WeightsError(VisionCircuitsError):
    """Weights missing, corrupt, unsafe, of the wrong hash or not matching the model."""


def closest(name: str, choices: Iterable[str], n: int = 5) -> list[str]:
    """Closest valid names to ``name``: difflib matches first, then substring matches."""
    choices = list(choices)
    found = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    low = name.lower()
    for c in choices:
        if len(found) >= n:
            break
        if c not in found and (low in c.lower() or c.lower() in low):
            found.append(c)
    if not found:
        found = difflib.get_close_matches(name, choices, n=n, cutoff=0.0)
    return found


def unknown(kind: str, name: str, choices: Iterable[str]) -> UnknownNameError:
    """Build an :class:`UnknownNameError` that suggests the closest names."""
    choices = list(choices)
    near = closest(name, choices)
    hint = f"; closest: {', '.join(near)}" if near else ""
    return UnknownNameError(f"unknown {kind} '{name}'{hint}")
