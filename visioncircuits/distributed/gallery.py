"""Galleries on Ray: dataset examples over shards of images, renders over shards of units.

The driver plans the run (:func:`~visioncircuits.featvis.gallery.plan_gallery`: validation,
settings record, finished units skipped), scans the dataset once on image shards, then every
task calls :func:`~visioncircuits.featvis.gallery.build_gallery` on its units with their
precomputed examples and writes their folders (atomic, ``unit.json`` last) into the shared
output folder. A last single-process call on the driver finds every unit finished and writes
``gallery.json`` and ``index.html``, exactly as a single-process run would.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

from visioncircuits.device import numeric_mode
from visioncircuits.distributed.backend import default_shards, run_shards
from visioncircuits.distributed.cluster import ray_session
from visioncircuits.distributed.config import RayConfig
from visioncircuits.distributed.examples import ray_dataset_examples
from visioncircuits.distributed.shards import unit_shards
from visioncircuits.featvis.config import RenderConfig
from visioncircuits.featvis.dataset_examples import ExamplesResult
from visioncircuits.featvis.gallery import GalleryResult, build_gallery, examples_batch, plan_gallery


def _gallery_task(units: list, model, layer: str, out: str, cfg: RenderConfig, kwargs: dict,
                  examples: Optional[ExamplesResult]) -> list:
    if examples is not None:
        mine = {f"{kwargs.get('unit_spec') or layer}:{i}" for i in units}
        examples = ExamplesResult([u for u in examples.units if u.unit in mine], examples.n_images, examples.skipped,
                                  examples.crop_size, examples.size)
    res = build_gallery(model, layer, out, cfg.replace(progress=False), units=units, write_html=False,
                        precomputed=examples, **kwargs)
    return res.rendered


def ray_gallery(model, layer: str, out_dir: Union[str, os.PathLike], config: Optional[RenderConfig] = None, *,
                ray: RayConfig, units=None, shard=None, dataset=None, k: int = 9, max_examples: Optional[int] = None,
                unit_notes: Optional[dict] = None, embed_images: bool = True, write_html: bool = True,
                **kwargs) -> GalleryResult:
    """:func:`~visioncircuits.featvis.gallery.build_gallery` with the work spread over Ray tasks.

    Takes build_gallery's arguments (``unit_spec``, ``diverse``, ``negative``, ``objective``,
    ``diversity_weight`` ...) plus ``ray``; the outputs are those of a single-process run.

    Examples:
        >>> res = ray_gallery(model, "block2.relu2", "out/g", RenderConfig(steps=64),
        ...                   ray=RayConfig())  # doctest: +SKIP
    """
    render_fields = set(RenderConfig.__dataclass_fields__)
    cfg = RenderConfig.resolve(config, **{k_: v for k_, v in kwargs.items() if k_ in render_fields})
    kwargs = {k_: v for k_, v in kwargs.items() if k_ not in render_fields}
    out = Path(out_dir)
    plan_keys = ("unit_spec", "diverse", "negative", "objective", "diversity_weight")
    plan = plan_gallery(model, layer, out, cfg, units=units, dataset=dataset, k=k, shard=shard,
                        max_examples=max_examples, **{k_: kwargs[k_] for k_ in plan_keys if k_ in kwargs})
    task_kwargs = {**kwargs, "dataset": dataset, "k": k, "max_examples": max_examples, "unit_notes": unit_notes}
    if plan.todo:
        with ray_session(ray) as r, numeric_mode(cfg.exact):
            examples = None
            if dataset:
                examples = ray_dataset_examples(model, [plan.addresses[i] for i in plan.todo], dataset, ray, k=k,
                                                size=plan.size, limit=max_examples, batch_size=examples_batch(cfg))
            shards = unit_shards(plan.todo, default_shards(r, ray, len(plan.todo)))
            run_shards(_gallery_task, shards, ray, shared=(model, layer, str(out), cfg, task_kwargs, examples),
                       desc=f"gallery {plan.prefix} ({len(plan.todo)} units)", unit="unit")
    final = build_gallery(model, layer, out, cfg, units=units, shard=shard, embed_images=embed_images,
                          write_html=write_html, **task_kwargs)
    return GalleryResult(final.out_dir, final.manifest, final.index, plan.todo, plan.done, final.total_finished)
