"""The atlas on Ray: unit galleries as in :mod:`.gallery`, activation-atlas cells as Ray tasks.

``build_atlas(..., ray=RayConfig())`` renders every site layer's gallery with
:func:`~visioncircuits.distributed.gallery.ray_gallery`; for each activation atlas the driver
computes (or reuses) the layout, then tasks render the cells: task ``j`` of ``m`` runs
``build_layer_atlas`` on the sub-shard ``(k + n*j, n*m)`` of the run's shard ``(k, n)`` (the
cells ``k-1+n*j, k-1+n*j+n*m, ...``), writing ``cells/cell_<gy>_<gx>.png`` atomically into the
shared site. The driver then composes ``atlas.png``/``atlas.json`` and writes the pages as a
single-process run does (dataset extras and neighbours stay on the driver).
"""
from __future__ import annotations

from pathlib import Path

from visioncircuits.atlas.atlas_build import _layout, atlas_key, build_layer_atlas, cell_png
from visioncircuits.distributed.backend import default_shards, run_shards
from visioncircuits.distributed.cluster import ray_session
from visioncircuits.distributed.config import RayConfig


def _cells_task(sub: tuple, model, layer: str, photos: str, out: str, cfg, size: int) -> int:
    return int(build_layer_atlas(model, layer, Path(photos), Path(out), cfg, size, sub)["rendered"])


def ray_layer_atlas(model, layer: str, photos: Path, out: Path, cfg, size: int, shard: tuple,
                    ray: RayConfig) -> dict:
    """:func:`~visioncircuits.atlas.atlas_build.build_layer_atlas` with the cells rendered as Ray tasks."""
    key = atlas_key(layer, photos, cfg, size)
    cells, _ = _layout(model, layer, photos, out, cfg, size, key)  # once, on the driver; tasks read it
    k, n = shard
    todo = [i for i in range(len(cells))[k - 1::n] if not cell_png(out, cells[i]).exists()]
    rendered = 0
    if todo:
        with ray_session(ray) as r:
            m = default_shards(r, ray, len(todo))
            subs = [(k + n * j, n * m) for j in range(m)]
            sizes = [sum(1 for i in todo if i % (n * m) == s[0] - 1) for s in subs]
            rendered = sum(run_shards(_cells_task, subs, ray, shared=(model, layer, str(photos), str(out), cfg, size),
                                      sizes=sizes, desc=f"atlas cells {layer} ({len(todo)})", unit="cell"))
    res = build_layer_atlas(model, layer, photos, out, cfg, size, shard)  # composes once every cell is there
    return {**res, "rendered": rendered + res["rendered"]}
