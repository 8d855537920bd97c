"""Which edges a circuit keeps: top-k per node and the cumulative share of influence.

Kept separate from graph building so the same rule applies when a circuit is built and
when an existing graph is thinned afterwards (``prune_graph``).
"""
from __future__ import annotations

from typing import Optional

import networkx as nx
import torch

from visioncircuits.errors import InputError

RANKS = ("abs", "positive", "negative")


def check_pruning(top_k: int, share: Optional[float], rank: str) -> None:
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise InputError(f"top_k must be a positive integer, got {top_k!r}")
    if share is not None and not 0 < float(share) <= 1:
        raise InputError(f"share must be in (0, 1], got {share!r}")
    if rank not in RANKS:
        raise InputError(f"rank must be one of {', '.join(RANKS)}, got {rank!r}")


def select(scores: torch.Tensor, top_k: int, share: Optional[float] = None, rank: str = "abs") -> list[int]:
    """Indices of the strongest lower units for one upper unit, strongest first.

    ``rank``: by absolute strength, or only excitatory ("positive") / inhibitory ("negative")
    edges. ``share``: stop once the kept edges hold this fraction of the total absolute
    influence of all candidates (never more than ``top_k``).
    """
    check_pruning(top_k, share, rank)
    s = scores.detach().float().flatten().cpu()
    key = {"abs": s.abs(), "positive": s, "negative": -s}[rank]
    order = torch.argsort(key, descending=True).tolist()
    if rank != "abs":
        order = [i for i in order if key[i] > 0]
    order = [i for i in order if s[i] != 0][:top_k]
    if share is not None and order:
        total = float(s.abs().sum())
        kept, acc = [], 0.0
        for i in order:
            kept.append(i)
            acc += float(s[i].abs())
            if acc >= share * total:
                break
        order = kept
    return order


def prune_graph(
    graph: nx.DiGraph, top_k: Optional[int] = None, share: Optional[float] = None, rank: str = "abs"
) -> nx.DiGraph:
    """A copy of ``graph`` keeping, for each node, its ``top_k`` strongest incoming edges (and
    within them the cumulative ``share``); nodes no longer connected to a root are dropped."""
    check_pruning(top_k or 1, share, rank)
    g = graph.copy()
    for node in list(g.nodes):
        preds = list(g.in_edges(node, data=True))
        if not preds:
            continue
        scores = torch.tensor([d["strength"] for _, _, d in preds])
        keep = set(select(scores, top_k or len(preds), share, rank))
        g.remove_edges_from([(u, v) for i, (u, v, _) in enumerate(preds) if i not in keep])
    roots = [n for n, d in g.nodes(data=True) if d.get("depth", 0) == 0]
    reach = set(roots)
    for r in roots:
        reach |= nx.ancestors(g, r)
    g.remove_nodes_from([n for n in list(g.nodes) if n not in reach])
    return g
