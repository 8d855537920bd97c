"""Device choice in one place: never a hard-coded cuda:0."""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional, Union

import torch

from visioncircuits.errors import InputError


def pick_device(device: Optional[Union[str, torch.device]] = None) -> torch.device:
    """``device`` if given (validated), else CUDA when available, else CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device '{device}'; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device '{device}' requested but CUDA is not available here")
    return dev


@contextlib.contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run torch on ``n`` intra-op threads inside the block, then restore the setting.

    Small models and many small ops gain nothing from extra threads; on a busy 2-core
    machine their synchronisation made such work up to ten times slower.
    """
    old = torch.get_num_threads()
    if old == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextlib.contextmanager
def deterministic(threads: int = 1, seed: Optional[int] = None) -> Iterator[None]:
    """Fixed thread count and deterministic kernels inside the block, restored afterwards.

    Reductions split over a different number of threads add floats in a different order; a
    long seeded run (an SAE) amplifies those last-bit differences into different latents, so
    the same seed gave different results on different machines. Measured runs and seeded demo
    stages therefore use one thread and ``torch.use_deterministic_algorithms``.
    """
    old_det = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    if seed is not None:
        torch.manual_seed(seed)
    try:
        with torch_threads(threads):
            yield
    finally:
        torch.use_deterministic_algorithms(old_det)


@contextlib.contextmanager
def batch_invariant(threads: int = 1) -> Iterator[None]:
    """:func:`deterministic` plus CPU kernels whose float sums do not depend on the batch size.

    Why: oneDNN convolutions, and multi-threaded BLAS, pick their summation order by batch
    size, so the same image gives activations that differ in the last bit (~1e-7) alone and
    in a batch; over hundreds of optimisation steps a rendering then differs by a few pixel
    levels. Inside this block (one thread, oneDNN and NNPACK off; measured ~8% more CPU time on
    MobileNet-V2) a render is byte-identical however the units are batched, sharded or
    resumed. Per-unit seeding alone already makes every random number batch-independent.
    """
    old = torch.backends.mkldnn.enabled
    with deterministic(threads=threads), torch.backends.nnpack.flags(enabled=False):
        # NNPACK takes over CPU convolutions from a batch of 16 images on (found by `bench ray`:
        # a batch of 16 rendered units differently from batches of 1 to 12)
        torch.backends.mkldnn.enabled = False
        try:
            yield
        finally:
            torch.backends.mkldnn.enabled = old


@contextlib.contextmanager
def exact_mode() -> Iterator[None]:
    """One thread, deterministic kernels and NNPACK off: the numeric mode of ``RenderConfig.exact``.

    With it, a computation gives the same bits every time for the same batch. The callers
    (``render``, ``build_gallery``, dataset examples) then put every image whose batch would
    depend on how the work is split in a batch of its own, so no number depends on which other
    images shared its batch. This keeps oneDNN, unlike :func:`batch_invariant`, which is much
    slower on this project's CPU models (its cost against the default is a row of
    ``visioncircuits bench featvis_speed --mode options``: ``exact``, ``one image per batch``).
    """
    with deterministic(threads=1), torch.backends.nnpack.flags(enabled=False):
        yield


def numeric_mode(exact: bool) -> contextlib.AbstractContextManager:
    """:func:`exact_mode` when ``exact`` (``RenderConfig.exact``, ``--exact``), else nothing.

    Why a switch, not the default: it pins work to one thread, so on a 2-core machine a job
    takes up to twice the wall time; without it results agree to float rounding (~1e-7 per
    activation) across batch sizes, shards and resumes, which is enough for most galleries.
    """
    return exact_mode() if exact else contextlib.nullcontext()
