"""Run heavy jobs as Ray tasks: shards of units or images, same outputs as one process.

A job is cut into shards (:mod:`.shards`); each shard is one Ray task (:func:`.backend.run_shards`)
that either writes its part with the same atomic, resumable layout as a single-process run
into the shared output folder, or returns its part for the driver to merge. The driver shows
progress, Ray retries a task whose worker died, and a final single-process pass on the driver
finds the work done on disk and writes the manifests and pages. Ray is an optional extra
(``pip install visioncircuits[ray]``); nothing here imports it until a job runs.
"""
from visioncircuits.distributed.config import RayConfig
from visioncircuits.distributed.shards import image_shards, unit_shards

__all__ = ["RayConfig", "image_shards", "unit_shards"]
