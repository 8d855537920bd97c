"""Data-parallel SAE training with torch.distributed (launched by ``torchrun``).

Why hand-made data parallelism instead of wrapping the SAE in ``DistributedDataParallel``:
the training step is not a plain ``loss(model(x))``. The TopK/ReLU losses normalise by the
*global* batch (reconstruction mean, the AuxK residual variance), dead latents are decided
from what fired anywhere in the global batch, and the decoder is renormalised after the
step. So each rank computes its slice's share of the global-batch loss (sums divided by the
global count, with the few batch statistics all-reduced), the gradients are summed with one
``all_reduce`` (what DDP does), and every rank then takes the identical optimiser step. The
result equals the single-process run on the same global batches up to float summation order.

Detection: ``WORLD_SIZE`` > 1 in the environment (torchrun sets it with ``RANK``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``). Backend: NCCL on CUDA, gloo on CPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, Optional

import torch

from visioncircuits.errors import InputError


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job: ``rank`` of ``world`` (1 = not distributed)."""

    rank: int = 0
    world: int = 1
    backend: Optional[str] = None

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints and outputs; the others only compute."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()


def env_world() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise InputError(f"WORLD_SIZE must be an integer, got {os.environ.get('WORLD_SIZE')!r}") from None


def local_device(device: torch.device) -> torch.device:
    """Under torchrun on GPUs, each process takes ``cuda:LOCAL_RANK`` unless an index was given."""
    if env_world() > 1 and device.type == "cuda" and device.index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def init_from_env(device: torch.device) -> DistContext:
    """Join the torchrun job described by the environment (no-op and world 1 outside one)."""
    world = env_world()
    if world <= 1:
        return DistContext()
    import torch.distributed as dist

    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return DistContext(dist.get_rank(), dist.get_world_size(), backend)


def shutdown(ctx: DistContext) -> None:
    if ctx.active and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


class BatchReduce:
    """Global-batch statistics for the losses (sums over all ranks, never differentiated)."""

    def sum(self, t: torch.Tensor) -> torch.Tensor:
        out = t.detach().clone()
        torch.distributed.all_reduce(out)
        return out

    def count(self, n: int, device: torch.device) -> int:
        return int(self.sum(torch.tensor(float(n), device=device)))

    def any(self, mask: torch.Tensor) -> torch.Tensor:
        return self.sum(mask.to(torch.float32)) > 0

    def variance(self, x: torch.Tensor, n_all: int) -> torch.Tensor:
        """Mean over the global batch of ||x - mean(x)||^2, from all-reduced sums."""
        s = self.sum(torch.cat([x.sum(0), x.pow(2).sum()[None]]))
        return (s[-1] - s[:-1].pow(2).sum() / n_all) / n_all


def all_reduce_grads(module: torch.nn.Module) -> None:
    """Sum every parameter gradient over the ranks (the losses are already divided by the global count)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    torch.distributed.all_reduce(flat)
    lo = 0
    for g in grads:
        g.copy_(flat[lo:lo + g.numel()].view_as(g))
        lo += g.numel()


def broadcast_module(module: torch.nn.Module) -> None:
    """Rank 0's parameters and buffers on every rank (DDP's start-up sync)."""
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            torch.distributed.broadcast(t.data, src=0)


def rank_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    from visioncircuits.store.reader import rank_bounds as bounds

    return bounds(n, rank, world)


class RankSlice:
    """A stream that yields only this rank's contiguous slice of each global batch (for
    streams computed on the fly, where every rank builds the global batch and keeps its part)."""

    rank_sliced = True

    def __init__(self, stream, rank: int, world: int):
        self.stream, self.rank, self.world = stream, int(rank), int(world)

    def batches(self, batch_size: int, start: int = 0) -> Iterator[torch.Tensor]:
        for x in self.stream.batches(batch_size, start=start):
            lo, hi = rank_bounds(len(x), self.rank, self.world)
            yield x[lo:hi]

    def sample(self, n: int, *args) -> torch.Tensor:
        return self.stream.sample(n, *args)


def for_rank(stream, ctx: DistContext):
    """``stream`` reduced to this rank's slices (a store stream reads only those rows)."""
    if not ctx.active:
        return stream
    if hasattr(stream, "for_rank"):
        return stream.for_rank(ctx.rank, ctx.world)
    return RankSlice(stream, ctx.rank, ctx.world)
