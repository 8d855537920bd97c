"""``run_shards``: one Ray task per shard, progress on the driver, retries when a worker dies.

A task is ``fn(shard, *shared)``: ``shared`` objects (a model, settings) are put in the object
store once and handed to every task. A task either writes its part of the outputs with
``visioncircuits.atomic`` into a folder every worker sees (then a rerun or a retried task skips
what is finished) or returns its part; ``run_shards`` returns the results in shard order.
Ray reruns a task whose worker process died (``max_retries``); an exception raised by the
task itself is not retried and reaches the caller as itself (an ``InputError`` stays one).
Tasks run torch on ``cpus_per_task`` threads with the driver's oneDNN, NNPACK and
deterministic-algorithm settings, so a job run under ``device.batch_invariant()`` on the driver gives the
bytes of a single-process run under ``batch_invariant()``.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Any, Callable, Iterator, Optional, Sequence

from tqdm.auto import tqdm

from visioncircuits.distributed.cluster import ray_session
from visioncircuits.distributed.config import RayConfig

log = logging.getLogger(__name__)


def numeric_mode() -> dict:
    """The driver's torch settings that change float results (tasks copy them)."""
    import torch

    return {"mkldnn": bool(torch.backends.mkldnn.enabled), "nnpack": bool(torch._C._get_nnpack_enabled()),
            "deterministic": bool(torch.are_deterministic_algorithms_enabled())}


@contextlib.contextmanager
def _apply_mode(mode: dict, threads: int) -> Iterator[None]:
    import torch

    from visioncircuits.device import torch_threads

    old = numeric_mode()
    torch.backends.mkldnn.enabled = mode["mkldnn"]
    torch.use_deterministic_algorithms(mode["deterministic"], warn_only=True)
    try:
        with torch_threads(threads), torch.backends.nnpack.flags(enabled=mode["nnpack"]):
            yield
    finally:
        torch.backends.mkldnn.enabled = old["mkldnn"]
        torch.use_deterministic_algorithms(old["deterministic"], warn_only=True)


def _run_on_worker(fn: Callable, shard: Any, threads: int, mode: dict, *shared: Any) -> Any:
    """Inside a Ray worker: the driver's numeric mode on ``threads`` torch threads, models on this
    worker's device, then ``fn``."""
    from torch import nn

    from visioncircuits.device import pick_device

    device = pick_device(None)  # the GPU Ray assigned (CUDA_VISIBLE_DEVICES) or the CPU

    def to_device(obj):
        if isinstance(obj, nn.Module):
            return obj.to(device) if _device_of(obj) != device else obj
        if isinstance(obj, dict):
            return {k: to_device(v) for k, v in obj.items()}
        return obj

    moved = [to_device(s) for s in shared]
    with _apply_mode(mode, threads):
        return fn(shard, *moved)


def _device_of(module) -> Any:
    dev = getattr(module, "device", None)
    if dev is not None and not callable(dev):
        return dev
    p = next(module.parameters(), None)
    return p.device if p is not None else None


def task_options(ray: Any, config: RayConfig) -> dict:
    """Resources and retries of one task: GPUs only where the cluster has some."""
    gpus = config.num_gpus
    if gpus is None:
        gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
    return {"num_cpus": config.cpus_per_task, "num_gpus": gpus, "max_retries": config.max_retries,
            "retry_exceptions": False}


def default_shards(ray: Any, config: RayConfig, n_items: int) -> int:
    """``config.shards``, else 4 per CPU of the cluster, never more than the items."""
    n = config.shards or 4 * max(1, int(ray.cluster_resources().get("CPU", 1) // config.cpus_per_task))
    return max(1, min(n, n_items))


def run_shards(fn: Callable, shards: Sequence[Any], config: RayConfig, *, shared: Sequence[Any] = (),
               sizes: Optional[Sequence[int]] = None, desc: str = "ray", unit: str = "item") -> list:
    """Run ``fn(shard, *shared)`` for every shard as a Ray task; results in shard order.

    ``fn`` must be importable on the workers (a module-level function). ``sizes`` (items per
    shard, default ``len(shard)``) move the driver's progress bar as shards finish.

    Examples:
        >>> run_shards(sum, [[1, 2], [3]], RayConfig(local_cpus=2))  # doctest: +SKIP
        [3, 3]
    """
    shards = list(shards)
    sizes = list(sizes) if sizes is not None else [len(s) for s in shards]
    if not shards:
        return []
    with ray_session(config) as ray:
        refs = [ray.put(s) for s in shared]
        remote = ray.remote(_run_on_worker).options(**task_options(ray, config))
        threads = max(1, int(config.cpus_per_task))
        mode = numeric_mode()
        pending = {remote.remote(fn, shard, threads, mode, *refs): i for i, shard in enumerate(shards)}
        results: list = [None] * len(shards)
        bar = tqdm(total=sum(sizes), desc=desc, unit=unit, disable=not config.progress)
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    i = pending.pop(ref)
                    results[i] = _get(ray, ref)
                    bar.update(sizes[i])
        finally:
            bar.close()
            for ref in pending:
                ray.cancel(ref, force=True)
        log.info("%s: %d shards done", desc, len(shards))
        return results


def _get(ray: Any, ref: Any) -> Any:
    """``ray.get`` that re-raises the task's own exception (``RayTaskError.cause``)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        cause = getattr(e, "cause", None)
        if isinstance(cause, Exception):
            raise cause from None
        raise
