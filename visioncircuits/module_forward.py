"""Replace some modules' ``forward`` for the length of a block, then put every one back.

Why: redirected ReLU gradients (``featvis.redirect``) and branch pruning
(``circuits.branch_pruning``) change what a few modules compute without changing the module
tree or its hooks (hooks of other code, e.g. an SAE splice, keep working). Setting
``module.forward`` on the instance does that; this helper makes the restore (also on
exceptions, also when an instance already had its own ``forward``) one piece of code.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterable, Iterator

from torch import nn

_NONE = object()


@contextlib.contextmanager
def replaced_forwards(replacements: Iterable[tuple[nn.Module, Callable]]) -> Iterator[None]:
    """Inside the block each ``module`` runs its ``fn`` (same call signature) instead of its forward."""
    swapped: list = []  # (module, the instance's own forward attribute or _NONE)
    try:
        for module, fn in replacements:
            swapped.append((module, module.__dict__.get("forward", _NONE)))
            module.forward = fn
        yield
    finally:
        for module, own in reversed(swapped):
            if own is _NONE:
                module.__dict__.pop("forward", None)
            else:
                module.forward = own
