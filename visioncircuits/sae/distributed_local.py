"""Run a data-parallel SAE training job on this machine without torchrun (tests, benchmarks).

Why: ``torchrun`` is the user's launcher, but tests and ``visioncircuits bench sae-ddp``
need to start N gloo processes from Python, wait for them and collect what they report.
Each process sets the same environment variables torchrun would (``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR``/``MASTER_PORT``) and then goes through the normal entry point,
:func:`visioncircuits.sae.distributed.init_from_env`, so nothing here is a test-only path.
"""
from __future__ import annotations

import os
import socket
from typing import Optional

import torch
import torch.multiprocessing as mp
from torch.multiprocessing.spawn import start_processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, store_dir: str, cfg: dict, runs: list, threads: int,
            results) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(threads)
    from visioncircuits.sae.distributed import init_from_env, shutdown
    from visioncircuits.sae.train import TrainConfig, train_sae
    from visioncircuits.store import ActivationStore

    ctx = init_from_env(torch.device("cpu"))
    try:
        store = ActivationStore(store_dir)
        out = {}
        for out_dir, stop_after in runs:
            sae = train_sae(store.stream(cfg.get("seed", 0)), store.d, TrainConfig(**cfg), out_dir=out_dir,
                            progress=False, stop_after=stop_after, dist=ctx)
            out[out_dir] = dict(sae.cfg["training"])
        if ctx.is_main:
            results.put(out)
    finally:
        shutdown(ctx)


def train_store_local(world: int, store_dir: str, cfg: dict, runs: list[tuple[str, Optional[int]]],
                      threads: int = 1) -> dict:
    """Train SAEs on ``store_dir`` with ``world`` gloo processes, one ``train_sae`` call per
    ``(out_dir, stop_after)`` in ``runs`` (in order, same processes); returns rank 0's
    ``{out_dir: training record}`` (``samples_per_second`` etc.)."""
    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    start_processes(_worker, args=(world, free_port(), str(store_dir), cfg, runs, threads, results),
                       nprocs=world, join=True, start_method="spawn")
    return results.get()
