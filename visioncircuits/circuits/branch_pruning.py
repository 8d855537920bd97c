"""Branch pruning for expanded weights: a chunk of rows runs only the modules it reads.

Why: in a block with parallel branches (an Inception block: 1x1, 3x3, 5x5 and pool branches
concatenated) each upper channel comes from one branch, yet a batched forward and backward
for a chunk of rows runs every branch. On ``maxpool4 -> mixed4a`` that is about three times
the work the rows need.

How: one batched forward on a zero lower map (the point the rows are taken at) finds which
readout rows depend on which leaf module of the block: sample 0 runs plainly, sample k + 1
has leaf k's output perturbed by noise, and a row depends on leaf k where its value changes
at all (float rounding can only add a dependency, never hide one). Rows
are grouped by the set of leaves they depend on; while a group runs, the other leaves
return zeros (their ``forward`` replaced on the instance, restored on exit), so they cost
nothing forward and, not requiring gradients, nothing backward.

Why the rows stay exact: on the linearised model a row is a constant Jacobian row. A leaf
whose output the row does not depend on cannot change it, and gradients through linear ops
do not depend on the values flowing forward, so the rows are the same sums as without
pruning. A dependency missed by the noise test (probability zero) would change ``v . rows``;
:class:`~visioncircuits.circuits.expanded.ExpandedWeights` checks that against its
one-backward probe and recomputes without pruning if they differ.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from visioncircuits.module_forward import replaced_forwards


@dataclass(frozen=True)
class RowGroup:
    """Rows (indices into the readout's rows) that depend on the same leaves; ``skip``: the
    leaves of the block they do not depend on."""

    rows: tuple[int, ...]
    skip: tuple[str, ...]


@dataclass
class BlockLeaf:
    name: str
    module: nn.Module
    shape: tuple  # one sample's output shape on the injected map


def _leaves(net: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in net.named_modules() if n and not any(True for _ in m.children())]


def row_groups(net: nn.Module, lower_module: nn.Module, run: Callable[[torch.Tensor], torch.Tensor],
               x_shape: Sequence[int], device) -> tuple[list[RowGroup], dict[str, BlockLeaf]]:
    """Group the readout's rows by the block leaves they depend on.

    ``run(x)`` is the readout (B, R) of the linearised net with ``x`` (B, *x_shape) injected at
    the lower layer (``lower_module``'s output). Leaves that run after the injection form the
    block; those that run before it are skipped by every group. Returns the groups and the
    leaves they may skip, by name.
    """
    order: list[tuple[str, nn.Module, tuple]] = []
    before: list[tuple[str, nn.Module, tuple]] = []
    state = {"injected": False}
    handles = [lower_module.register_forward_hook(lambda *_: state.__setitem__("injected", True))]
    for name, module in _leaves(net):
        if module is lower_module:  # its output is replaced by the injected map anyway
            continue

        def record(_m, _inp, out, _name=name, _module=module):
            if isinstance(out, torch.Tensor) and out.is_floating_point():
                (order if state["injected"] else before).append((_name, _module, tuple(out.shape[1:])))
        handles.append(module.register_forward_hook(record))
    try:
        with torch.no_grad():
            base = run(torch.zeros(1, *x_shape, device=device))
    finally:
        for h in handles:
            h.remove()
    leaves = {name: BlockLeaf(name, module, shape) for name, module, shape in order}
    names = list(leaves)
    # leaves before the injection only feed the replaced lower output (or a skip around it,
    # a constant for the rows): every group skips them, so the prefix costs nothing either
    prefix = {name: BlockLeaf(name, module, shape) for name, module, shape in before if name not in leaves}
    n_rows = base.shape[1]
    if not names:
        return [RowGroup(tuple(range(n_rows)), tuple(prefix))], {**prefix, **leaves}
    # sample k + 1 perturbs leaf k; sample 0 is the plain run
    gen = torch.Generator().manual_seed(0)
    k_total = len(names)
    handles = []
    state["injected"] = False
    for k, name in enumerate(names):

        def perturb(_m, _inp, out, _k=k):
            if not isinstance(out, torch.Tensor) or out.shape[0] != k_total + 1:
                return None
            noise = torch.zeros_like(out)
            noise[_k + 1] = torch.randn(out.shape[1:], generator=gen).to(out.device, out.dtype)
            return out + noise

        handles.append(leaves[name].module.register_forward_hook(perturb))
    try:
        with torch.no_grad():
            # at the point the rows are taken (a zero lower map): a readout that is not linear
            # (an SAE latent's ReLU) is tested where its gradient is read
            r = run(torch.zeros(k_total + 1, *x_shape, device=device))
    finally:
        for h in handles:
            h.remove()
    depends = r[1:] != r[:1]  # (leaves, rows); rounding can only add dependencies, never drop one
    groups: dict[tuple, list[int]] = {}
    for row, key in enumerate(map(tuple, depends.T.cpu().tolist())):
        groups.setdefault(key, []).append(row)
    out = [RowGroup(tuple(rows), tuple(prefix) + tuple(n for n, used in zip(names, key) if not used))
           for key, rows in groups.items()]
    return out, {**prefix, **leaves}


def zeroed(leaves: Sequence[BlockLeaf]) -> contextlib.AbstractContextManager:
    """The given leaves return zeros of their recorded shape (batch from their input) and
    run nothing; their own ``forward`` is back on exit, also on exceptions."""
    def zeros(shape: tuple) -> Callable:
        def forward(x, *_args, **_kwargs):
            t = x if isinstance(x, torch.Tensor) else x[0]  # a concat module takes a tuple
            return torch.zeros((t.shape[0], *shape), device=t.device, dtype=t.dtype)
        return forward

    return replaced_forwards((leaf.module, zeros(leaf.shape)) for leaf in leaves)
