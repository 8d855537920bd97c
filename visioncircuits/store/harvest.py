"""Harvest a layer's activations over an image folder into a chunked store (resumable, shardable).

Why chunks of whole images: a chunk is the unit of work and of resume. It is computed from a
fixed image range (sorted paths), written atomically, and skipped when found finished, so a
killed run loses at most the chunk in flight, and shard K/N takes every N-th chunk so shards
never write the same file. Activations come from ``HookedModel.run_with_cache`` (no private
hooks), at every spatial position or at ``positions`` random ones per image, chosen by
:func:`visioncircuits.store.positions.choose_positions` from (seed, image path) alone.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

import torch
from tqdm.auto import tqdm

from visioncircuits.atomic import write_bytes
from visioncircuits.data import list_images, load_image
from visioncircuits.errors import InputError
from visioncircuits.store.manifest import (
    StoreSettings,
    check_same_settings,
    chunk_image_range,
    chunk_path,
    dataset_record,
    finished_chunk,
    rebuild_manifest,
    shard_chunks,
    store_lock,
    weights_record,
)
from visioncircuits.store.positions import choose_positions

if TYPE_CHECKING:
    from visioncircuits.hooks import HookedModel

log = logging.getLogger(__name__)


@dataclass
class HarvestResult:
    """What one call did: chunks written now, chunks found finished, and the manifest after it."""

    out: Path
    written: list
    reused: list
    manifest: dict

    @property
    def complete(self) -> bool:
        return bool(self.manifest["complete"])


def store_settings(model: HookedModel, layer: str, dataset: Union[str, os.PathLike], seed: int = 0,
                   positions: Optional[int] = None, chunk_images: int = 256, dtype: str = "float32",
                   weights: Optional[str] = None) -> tuple[StoreSettings, list[Path]]:
    """Validated settings and the image paths (sorted) for a harvest; raises before any write."""
    if int(chunk_images) < 1:
        raise InputError(f"chunk_images must be positive, got {chunk_images}")
    if positions is not None and int(positions) < 1:
        raise InputError(f"positions must be positive, got {positions}")
    size = int(model.spec.input_size)
    info = model.resolve_layer(layer, size)
    if len(info.shape) not in (1, 3):
        raise InputError(f"layer '{layer}' has output shape {info.shape}; a store needs (C,) or (C, H, W) activations")
    paths = list_images(dataset)
    if not paths:
        raise InputError(f"no images found in {dataset}")
    rel = [p.relative_to(Path(dataset)).as_posix() for p in paths]
    settings = StoreSettings(model=model.spec.name, weights=weights_record(model.spec, weights), layer=layer,
                             layer_shape=tuple(int(s) for s in info.shape), dtype=dtype, image_size=size,
                             dataset=dataset_record(dataset, rel), seed=int(seed),
                             positions=None if positions is None else int(positions), chunk_images=int(chunk_images))
    return settings, paths


def chunk_rows(model: HookedModel, layer: str, paths: list[Path], rel_paths: list[str], first_image: int,
               settings: StoreSettings, batch_size: int = 32) -> tuple[dict, list[str]]:
    """Tensors of one chunk ("activations", "image", "position") and the files skipped as unreadable."""
    acts_out, image_out, pos_out, skipped = [], [], [], []
    dtype = getattr(torch, settings.dtype)
    batch: list[torch.Tensor] = []
    batch_ids: list[int] = []

    def flush() -> None:
        if not batch:
            return
        acts = model.run_with_cache(torch.stack(batch).to(model.device), [layer])[layer]
        for row, img_id in enumerate(batch_ids):
            a = acts[row]
            if a.dim() == 1:
                acts_out.append(a[None].to("cpu", dtype))
                pos_out.append(torch.full((1,), -1, dtype=torch.long))
            else:
                keep = choose_positions(a.shape[1] * a.shape[2], settings.positions, settings.seed,
                                        rel_paths[img_id - first_image])
                flat = a.flatten(1).t()  # (H*W, C), row-major positions like flatten_positions
                acts_out.append(flat[keep.to(flat.device)].to("cpu", dtype))
                pos_out.append(keep)
            image_out.append(torch.full((len(pos_out[-1]),), img_id, dtype=torch.long))
        batch.clear()
        batch_ids.clear()

    for offset, path in enumerate(paths):
        try:
            batch.append(load_image(path, settings.image_size))
        except (OSError, ValueError, SyntaxError) as e:
            log.warning("skipping unreadable image %s: %s", path, e)
            skipped.append(rel_paths[offset])
            continue
        batch_ids.append(first_image + offset)
        if len(batch) == batch_size:
            flush()
    flush()
    d = settings.d
    tensors = {"activations": torch.cat(acts_out) if acts_out else torch.zeros(0, d, dtype=dtype),
               "image": torch.cat(image_out) if image_out else torch.zeros(0, dtype=torch.long),
               "position": torch.cat(pos_out) if pos_out else torch.zeros(0, dtype=torch.long)}
    return {k: v.contiguous() for k, v in tensors.items()}, skipped


def write_chunk(root: Path, settings: StoreSettings, index: int, tensors: dict, skipped: list[str]) -> dict:
    """Write one chunk atomically; its record rides in the safetensors metadata."""
    from safetensors.torch import save

    lo, hi = chunk_image_range(settings, index)
    record = {"index": index, "rows": int(len(tensors["activations"])), "images": [lo, hi],
              "skipped": skipped, "settings_key": settings.key()}
    write_bytes(chunk_path(root, index), save(tensors, metadata={"chunk": json.dumps(record)}))
    return record


def harvest_activations(model: HookedModel, layer: str, dataset: Union[str, os.PathLike],
                        out: Union[str, os.PathLike], positions: Optional[int] = None, seed: int = 0,
                        shard: Union[str, tuple, None] = None, chunk_images: int = 256, batch_size: int = 32,
                        dtype: str = "float32", weights: Optional[str] = None, progress: bool = True,
                        max_chunks: Optional[int] = None) -> HarvestResult:
    """Harvest ``layer`` activations of every image in ``dataset`` into the store ``out``.

    ``positions``: keep that many random positions per image (seeded from ``seed`` and the
    image's path), else all. ``shard="K/N"`` does every N-th chunk from K-1 (run the N shards
    anywhere that sees ``out``, in any order, even at once). Finished chunks are skipped.
    ``max_chunks`` stops after writing that many chunks in this call (time-limited jobs, tests).
    ``weights`` is what was passed to ``load_model`` (recorded with its SHA-256 when a file).

    Examples:
        >>> res = harvest_activations(model, "blocks.3", "photos/", "store/", positions=16)  # doctest: +SKIP
        >>> res.complete, res.manifest["rows"]                                               # doctest: +SKIP
        (True, 16000)
    """
    from visioncircuits.featvis.gallery import parse_shard

    if int(batch_size) < 1:
        raise InputError(f"batch_size must be positive, got {batch_size}")
    if max_chunks is not None and int(max_chunks) < 0:
        raise InputError(f"max_chunks must be >= 0, got {max_chunks}")
    shard_kn = parse_shard(shard)
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise InputError(f"--out must be a folder, but {root} is a file")
    settings, paths = store_settings(model, layer, dataset, seed, positions, chunk_images, dtype, weights)
    check_same_settings(root, settings)
    rel = [p.relative_to(Path(dataset)).as_posix() for p in paths]
    with store_lock(root):
        rebuild_manifest(root, settings)
    written, reused = [], []
    todo = shard_chunks(settings, shard_kn)
    bar = tqdm(todo, desc=f"activations {layer}", unit="chunk", disable=not progress)
    for index in bar:
        if finished_chunk(root, settings, index) is not None:
            reused.append(index)
            continue
        if max_chunks is not None and len(written) >= int(max_chunks):
            break
        lo, hi = chunk_image_range(settings, index)
        tensors, skipped = chunk_rows(model, layer, paths[lo:hi], rel[lo:hi], lo, settings, int(batch_size))
        write_chunk(root, settings, index, tensors, skipped)
        written.append(index)
        with store_lock(root):
            rebuild_manifest(root, settings)
    bar.close()
    with store_lock(root):
        manifest = rebuild_manifest(root, settings)
    return HarvestResult(root, written, reused, manifest)
