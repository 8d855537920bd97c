"""Read an activation store: deterministic row order, seeded shuffled batches, rank slices.

Why memory maps: a store can be far larger than RAM. Each chunk's "activations" tensor is
mapped straight from the safetensors file (8-byte header length, JSON header, raw data), so
a batch reads only the rows it uses, and a data-parallel rank reads only its slice of each
global batch.

Shuffled order (``batches``): epoch ``e`` permutes the chunks with a generator seeded from
(seed, e), groups them into windows of ``window`` chunks and permutes the rows inside each
window (seed, e, window). The epochs follow each other without a break and batch ``b`` is
rows ``[b*B, (b+1)*B)`` of that sequence, so any step can be reached without reading the
steps before it (exact resume), and the order does not depend on the number of ranks.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
from functools import cached_property
from pathlib import Path
from typing import Iterator, Optional, Union

import numpy as np
import torch

from visioncircuits.errors import InputError
from visioncircuits.store.manifest import MANIFEST_FILE, read_manifest, settings_from_manifest

_NP_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def _mix(*values: int) -> int:
    """A generator seed from several integers (no accidental collisions like ``a * p + b``)."""
    digest = hashlib.sha256(json.dumps([int(v) for v in values]).encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def map_tensor(path: Path, name: str) -> np.memmap:
    """A read-only memory map of tensor ``name`` in the safetensors file ``path``."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    entry = header[name]
    if entry["dtype"] not in _NP_DTYPES:
        raise InputError(f"{path}: tensor {name} has unsupported dtype {entry['dtype']}")
    start, end = entry["data_offsets"]
    shape = tuple(entry["shape"])
    if end == start:
        return np.zeros(shape, dtype=_NP_DTYPES[entry["dtype"]])  # type: ignore[return-value]
    return np.memmap(path, dtype=_NP_DTYPES[entry["dtype"]], mode="r", offset=8 + n + start, shape=shape)


class ActivationStore:
    """A finished store folder (``manifest.json`` + chunks), read-only.

    ``len(store)`` rows of width ``store.d``; ``store.settings`` says what they are.
    ``allow_incomplete=True`` opens a store whose harvest has not finished (its finished
    chunks only), e.g. to inspect it; training needs a complete store.

    Examples:
        >>> store = ActivationStore("store/")                    # doctest: +SKIP
        >>> len(store), store.d, store.settings.layer            # doctest: +SKIP
        (16000, 64, 'blocks.3')
        >>> x = next(store.batches(4096, seed=0))                # doctest: +SKIP
    """

    def __init__(self, path: Union[str, os.PathLike], allow_incomplete: bool = False):
        self.path = Path(path)
        if not self.path.is_dir():
            raise InputError(f"activation store not found: {self.path} (make one with `visioncircuits activations`)")
        data = read_manifest(self.path)
        if data is None:
            raise InputError(f"{self.path} has no {MANIFEST_FILE}; it is not an activation store")
        if not data["complete"] and not allow_incomplete:
            raise InputError(f"the store at {self.path} is incomplete ({data['finished_chunks']} of "
                             f"{data['n_chunks']} chunks); rerun its `visioncircuits activations` command to finish it")
        self.manifest = data
        self.settings = settings_from_manifest(data)
        self.chunks = [c for c in data["chunks"] if int(c["rows"]) > 0]
        if not self.chunks:
            raise InputError(f"the store at {self.path} holds no rows")
        sizes = torch.tensor([int(c["rows"]) for c in self.chunks], dtype=torch.long)
        self.offsets = torch.cat([torch.zeros(1, dtype=torch.long), sizes.cumsum(0)])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def d(self) -> int:
        return self.settings.d

    @cached_property
    def _maps(self) -> list[np.memmap]:
        maps = []
        for c in self.chunks:
            m = map_tensor(self.path / c["file"], "activations")
            if m.shape != (int(c["rows"]), self.d):
                raise InputError(f"{self.path / c['file']}: shape {m.shape} does not match the manifest")
            maps.append(m)
        return maps

    def chunk(self, i: int) -> torch.Tensor:
        """Rows of the i-th non-empty chunk, float32 (rows, d)."""
        return torch.from_numpy(np.array(self._maps[i], dtype=np.float32))

    def chunk_meta(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(image index, flat position) of each row of the i-th chunk (-1: no spatial position)."""
        path = self.path / self.chunks[i]["file"]
        return (torch.from_numpy(np.array(map_tensor(path, "image"))),
                torch.from_numpy(np.array(map_tensor(path, "position"))))

    def iter_rows(self, batch_size: int = 65536) -> Iterator[torch.Tensor]:
        """All rows in store order (chunk by chunk, image by image, position by position)."""
        for i in range(len(self.chunks)):
            x = self.chunk(i)
            for lo in range(0, len(x), batch_size):
                yield x[lo:lo + batch_size]

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """Rows at global indices ``index`` (any order), float32 (len(index), d); reads only those rows."""
        index = torch.as_tensor(index, dtype=torch.long).flatten()
        if len(index) and (int(index.min()) < 0 or int(index.max()) >= len(self)):
            raise IndexError(f"row index out of range 0..{len(self) - 1}")
        out = torch.empty(len(index), self.d, dtype=torch.float32)
        which = torch.searchsorted(self.offsets, index, right=True) - 1
        for c in which.unique().tolist():
            sel = (which == c).nonzero().flatten()
            local = (index[sel] - self.offsets[c]).numpy()
            order = np.argsort(local, kind="stable")  # ascending reads are kind to the page cache
            block = np.asarray(self._maps[c][local[order]], dtype=np.float32)
            out[sel[torch.from_numpy(order)]] = torch.from_numpy(block)
        return out

    def _epoch_windows(self, seed: int, epoch: int, window: int) -> list[torch.Tensor]:
        """Row-index blocks of one epoch, in order: permuted chunks, rows permuted within windows."""
        gen = torch.Generator().manual_seed(_mix(seed, epoch))
        order = torch.randperm(len(self.chunks), generator=gen).tolist()
        blocks = []
        for w, lo in enumerate(range(0, len(order), window)):
            ids = torch.cat([torch.arange(int(self.offsets[c]), int(self.offsets[c + 1]))
                             for c in order[lo:lo + window]])
            perm = torch.randperm(len(ids), generator=torch.Generator().manual_seed(_mix(seed, epoch, w)))
            blocks.append(ids[perm])
        return blocks

    def order(self, seed: int = 0, start_row: int = 0, window: int = 8) -> Iterator[torch.Tensor]:
        """The shuffled row sequence from position ``start_row`` on, forever, in blocks of indices."""
        n = len(self)
        epoch, skip = divmod(int(start_row), n)
        while True:
            for block in self._epoch_windows(seed, epoch, window):
                if skip >= len(block):
                    skip -= len(block)
                    continue
                yield block[skip:]
                skip = 0
            epoch += 1

    def batch_indices(self, batch_size: int, seed: int = 0, start: int = 0, window: int = 8) -> Iterator[torch.Tensor]:
        """Global row indices of batches ``start, start + 1, ...`` of the shuffled sequence."""
        if batch_size < 1:
            raise InputError(f"batch_size must be positive, got {batch_size}")
        pending: list[torch.Tensor] = []
        have = 0
        for block in self.order(seed, start * batch_size, window):
            pending.append(block)
            have += len(block)
            while have >= batch_size:
                flat = torch.cat(pending)
                yield flat[:batch_size]
                pending, have = [flat[batch_size:]], have - batch_size

    def batches(self, batch_size: int, seed: int = 0, start: int = 0, rank: int = 0, world: int = 1,
                window: int = 8) -> Iterator[torch.Tensor]:
        """Shuffled (batch_size, d) float32 batches forever from batch ``start`` on; with
        ``world > 1`` only rank ``rank``'s slice of each global batch (contiguous, sizes
        differing by at most one), so the ranks together see exactly the single-process batch."""
        for idx in self.batch_indices(batch_size, seed, start, window):
            lo, hi = rank_bounds(batch_size, rank, world)
            yield self.rows(idx[lo:hi])

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` rows drawn without replacement (all rows if fewer), seeded."""
        gen = torch.Generator().manual_seed(_mix(seed, 1_000_003))
        idx = torch.randperm(len(self), generator=gen)[: min(int(n), len(self))]
        return self.rows(idx)

    def stream(self, seed: int = 0) -> StoreStream:
        """This store as a training stream (``batches(batch_size, start)``, ``sample(n)``)."""
        return StoreStream(self, seed)


def rank_bounds(batch_size: int, rank: int, world: int) -> tuple[int, int]:
    """Rows [lo, hi) of a global batch that rank ``rank`` of ``world`` reads."""
    if not 0 <= rank < world:
        raise InputError(f"rank must be in 0..{world - 1}, got {rank}")
    return rank * batch_size // world, (rank + 1) * batch_size // world


class StoreStream:
    """An :class:`ActivationStore` as the SAE trainer's stream; ``batches(..., start=step)``
    continues the exact sequence a run without interruption would have read. ``rank``/``world``
    make it yield only this rank's slice of each global batch."""

    rank_sliced = True

    def __init__(self, store: ActivationStore, seed: int = 0, rank: int = 0, world: int = 1):
        self.store, self.seed, self.rank, self.world = store, int(seed), int(rank), int(world)
        rank_bounds(1, self.rank, self.world)
        self.description = f"store:{store.path.resolve()}"

    def for_rank(self, rank: int, world: int) -> StoreStream:
        return StoreStream(self.store, self.seed, rank, world)

    def batches(self, batch_size: int, start: int = 0) -> Iterator[torch.Tensor]:
        return self.store.batches(batch_size, self.seed, start, self.rank, self.world)

    def sample(self, n: int, start: Optional[int] = None) -> torch.Tensor:
        return self.store.sample(n, self.seed)
