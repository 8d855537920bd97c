"""Activation harvesting on Ray: chunks of the store are the shards.

The driver validates the settings (``store_settings``: the chunk count), then task ``j`` of
``m`` runs :func:`~visioncircuits.store.harvest_activations` on the sub-shard
``(k + n*j, n*m)`` of the run's shard ``(k, n)`` (chunks ``k-1+n*j, k-1+n*j+n*m, ...``),
writing its chunk files atomically into the shared store; the manifest is derived from the
chunk files under the store's lock, so concurrent tasks keep it consistent. A last call on
the driver finds every chunk finished and returns the manifest. A chunk's rows do not depend
on which process wrote it (positions are seeded per image path).
"""
from __future__ import annotations

import os
from typing import Optional, Union

from visioncircuits.distributed.backend import default_shards, run_shards
from visioncircuits.distributed.cluster import ray_session
from visioncircuits.distributed.config import RayConfig
from visioncircuits.featvis.gallery import parse_shard
from visioncircuits.store.harvest import HarvestResult, harvest_activations, store_settings
from visioncircuits.store.manifest import check_same_settings, finished_chunk, shard_chunks


def _harvest_task(sub: tuple, model, layer: str, dataset: str, out: str, kwargs: dict) -> list:
    return harvest_activations(model, layer, dataset, out, shard=sub, progress=False, **kwargs).written


def ray_harvest(model, layer: str, dataset: Union[str, os.PathLike], out: Union[str, os.PathLike], ray: RayConfig, *,
                positions: Optional[int] = None, seed: int = 0, shard: Union[str, tuple, None] = None,
                chunk_images: int = 256, batch_size: int = 32, dtype: str = "float32",
                weights: Optional[str] = None) -> HarvestResult:
    """:func:`~visioncircuits.store.harvest_activations` with the chunks harvested by Ray tasks.

    Examples:
        >>> res = ray_harvest(model, "blocks.3", "photos/", "store/", RayConfig(), positions=16)  # doctest: +SKIP
    """
    from pathlib import Path

    k, n = parse_shard(shard)
    settings, _ = store_settings(model, layer, dataset, seed, positions, chunk_images, dtype, weights)
    check_same_settings(Path(out), settings)
    todo = [i for i in shard_chunks(settings, (k, n)) if finished_chunk(Path(out), settings, i) is None]
    kwargs = {"positions": positions, "seed": seed, "chunk_images": chunk_images, "batch_size": batch_size,
              "dtype": dtype, "weights": weights}
    written: list = []
    if todo:
        with ray_session(ray) as r:
            m = default_shards(r, ray, len(todo))
            subs = [(k + n * j, n * m) for j in range(m)]
            sizes = [sum(1 for i in todo if i % (n * m) == s[0] - 1) for s in subs]
            keep = [(s, z) for s, z in zip(subs, sizes) if z]
            parts = run_shards(_harvest_task, [s for s, _ in keep], ray,
                               shared=(model, layer, str(dataset), str(out), kwargs), sizes=[z for _, z in keep],
                               desc=f"activations {layer} ({len(todo)} chunks)", unit="chunk")
            written = sorted(i for part in parts for i in part)
    final = harvest_activations(model, layer, dataset, out, shard=(k, n), progress=False, **kwargs)
    return HarvestResult(final.out, written, sorted(set(final.reused) - set(written)), final.manifest)
