"""Feature visualisations for circuit nodes, rendered with :mod:`visioncircuits.featvis`.

Kept optional: if rendering is unavailable or fails, the diagram still works, with empty
node boxes, and the reason is logged. PNGs already on disk are reused, so a rerun (or a
killed run) does not render the same node twice.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Union

import networkx as nx
from tqdm.auto import tqdm

from visioncircuits.atomic import write_png
from visioncircuits.units import parse_unit

log = logging.getLogger(__name__)


def vis_path(out_dir: Union[str, os.PathLike], key: str) -> Path:
    return Path(out_dir) / f"{parse_unit(key).slug}.png"


def render_node_vis(model, graph: nx.DiGraph, out_dir: Union[str, os.PathLike], steps: int = 128,
                    size: int | None = None, batch: int = 16, progress: bool = False) -> int:
    """Render every node without a PNG in ``out_dir`` and set each node's ``vis``; returns
    the number rendered."""
    from visioncircuits.featvis.render import render
    todo = [n for n in graph.nodes if not vis_path(out_dir, n).exists()]
    done = 0
    for s in tqdm(range(0, len(todo), batch), desc="node visualisations", disable=not progress, leave=False):
        chunk = todo[s:s + batch]
        try:
            res = render(model, chunk, steps=steps, size=size, progress=False)
        except Exception as e:  # a visualisation is decoration: never lose the circuit over it
            log.warning("could not render %s: %s", ", ".join(chunk), e)
            continue
        for key, img in zip(chunk, res.images):
            write_png(vis_path(out_dir, key), img)
            done += 1
    for n in graph.nodes:
        p = vis_path(out_dir, n)
        graph.nodes[n]["vis"] = str(p) if p.exists() else ""
    return done
