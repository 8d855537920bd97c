"""Dataset examples on Ray: shards of images are scanned by tasks, the driver ranks and crops.

Each task runs :func:`~visioncircuits.featvis.dataset_examples.scan_images` on a contiguous,
batch-aligned run of the folder's images and returns the per-image maxima, means and
positions (small tensors); the driver concatenates them in path order and calls
:func:`~visioncircuits.featvis.dataset_examples.examples_from_scans`, the same code a
single-process run uses, so the examples are the same.
"""
from __future__ import annotations

import os
from typing import Optional, Sequence, Union

from visioncircuits.data import ImageFolder
from visioncircuits.distributed.backend import default_shards, run_shards
from visioncircuits.distributed.cluster import ray_session
from visioncircuits.distributed.config import RayConfig
from visioncircuits.distributed.shards import image_shards
from visioncircuits.featvis.dataset_examples import ExamplesResult, check_units, examples_from_scans, scan_images
from visioncircuits.units import Unit


def _scan_task(paths: list, model, resolved: list, size: int, batch_size: int):
    return scan_images(model, resolved, paths, size, batch_size)


def ray_dataset_examples(model, units: Sequence[Union[str, Unit]], folder: Union[str, os.PathLike],
                         config: RayConfig, *, k: int = 9, size: Optional[int] = None, batch_size: int = 32,
                         crops: bool = True, crop_size: Optional[int] = None, limit: Optional[int] = None,
                         threshold: float = 0.0) -> ExamplesResult:
    """:func:`~visioncircuits.featvis.dataset_examples.dataset_examples` with the images scanned as Ray tasks.

    Examples:
        >>> ex = ray_dataset_examples(model, ["layer3:5"], "images/", RayConfig(), k=9)  # doctest: +SKIP
    """
    resolved = check_units(model, units, k)
    size = int(size or model.spec.input_size)
    paths = [str(p) for p in ImageFolder(folder, size, limit=limit).paths]
    with ray_session(config) as ray:
        shards = image_shards(paths, default_shards(ray, config, len(paths)), batch_size)
        scans = run_shards(_scan_task, shards, config, shared=(model, resolved, size, batch_size),
                           desc=f"dataset examples ({len(paths)} images)", unit="img")
    return examples_from_scans(model, resolved, scans, k=k, size=size, crops=crops, crop_size=crop_size,
                               threshold=threshold, folder=folder)
