"""Expanded weights of every layer pair of a model, one safetensors file per pair, resumable.

The data-free wiring diagram of a whole model: ``expanded_all_pairs(model, out)`` writes
``OUT/<lower>__<upper>.safetensors`` (tensor ``weights`` [C_upper, C_lower, kh, kw]; metadata
``expanded`` = JSON of the settings and the layer names) for consecutive layer pairs (``pairs="consecutive"``) or every
ordered pair (``"all"``), then ``expanded.json`` listing them. A pair whose file exists with
the same settings is skipped, so a killed run resumes; each file is written atomically. Each
pair is computed by a fresh :class:`ExpandedWeights`, so pairs are independent work items and
the Ray backend (``ray=``) runs them as tasks with the same bytes as one process writes.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Optional, Sequence, Union

from tqdm.auto import tqdm

from visioncircuits.atomic import write_bytes, write_json
from visioncircuits.circuits.expanded import Crop, ExpandedWeights
from visioncircuits.errors import InputError, unknown
from visioncircuits.utils import slug

log = logging.getLogger(__name__)
PAIR_MODES = ("consecutive", "all")


def layer_pairs(model, layers: Optional[Sequence[str]] = None, mode: str = "consecutive", size=None) -> list:
    """(lower, upper) pairs in run order of ``layers`` (default: the model's main layers)."""
    if mode not in PAIR_MODES:
        raise unknown("pair mode", mode, PAIR_MODES)
    names = list(layers or model.spec.main_layers or model.layer_names())
    order = {n: model.resolve_layer(n, size).order for n in names}  # unknown layers: closest names
    names = sorted(dict.fromkeys(names), key=lambda n: order[n])
    if len(names) < 2:
        raise InputError(f"expanded weights need at least two layers, got {names}")
    if mode == "consecutive":
        return list(zip(names[:-1], names[1:]))
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]


def pair_file(out: Union[str, os.PathLike], lower: str, upper: str) -> Path:
    name = "__".join(slug(n, max_len=100, default="layer") for n in (lower, upper))
    return Path(out) / f"{name}.safetensors"


def _settings(model, crop: Crop, size: int, center: str) -> dict:
    return {"model": model.spec.name, "crop": crop, "size": size, "center": center}


def _finished(path: Path, settings: dict) -> bool:
    if not path.exists():
        return False
    try:
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        return json.loads(meta.get("expanded", "{}")).get("settings") == settings
    except (OSError, ValueError, json.JSONDecodeError):
        return False


def compute_pair(model, lower: str, upper: str, out: Union[str, os.PathLike], crop: Crop, size: int,
                 center: str = "floor_half") -> dict:
    """Compute one pair with a fresh ``ExpandedWeights`` and write its file; returns its manifest row.

    ``progress`` is off: on a Ray worker a bar per pair would only clutter the driver's log.
    """
    from safetensors.torch import save

    settings = _settings(model, crop, size, center)
    w = ExpandedWeights(model, size=size, center=center).compute(lower, upper, crop).detach().cpu().contiguous()
    # one metadata key: safetensors orders several keys by hash, and the bytes must not vary between runs
    meta = {"expanded": json.dumps({"settings": settings, "lower": lower, "upper": upper}, sort_keys=True)}
    path = write_bytes(pair_file(out, lower, upper), save({"weights": w}, metadata=meta))
    return {"lower": lower, "upper": upper, "file": path.name, "shape": list(w.shape)}


def _pairs_task(shard: list, model, out: str, crop: Crop, size: int, center: str) -> list:
    return [compute_pair(model, lo, up, out, crop, size, center) for lo, up in shard]


def expanded_all_pairs(model, out: Union[str, os.PathLike], layers: Optional[Sequence[str]] = None, *,
                       pairs: str = "consecutive", crop: Crop = "auto", size: Optional[int] = None,
                       center: str = "floor_half", progress: bool = True, ray=None) -> dict:
    """Write the expanded weights of every layer pair to ``out`` and return the manifest.

    ``ray``: a :class:`~visioncircuits.distributed.RayConfig` to compute the pairs as Ray tasks.

    Examples:
        >>> man = expanded_all_pairs(load_model("toy-resnet-s0"), "out/ew")  # doctest: +SKIP
        >>> man["pairs"][0]["shape"]                                         # doctest: +SKIP
        [8, 8, 5, 5]
    """
    size = int(size or model.spec.input_size)
    todo_pairs = layer_pairs(model, layers, pairs, size)
    settings = _settings(model, crop, size, center)
    out = Path(out)
    todo = [p for p in todo_pairs if not _finished(pair_file(out, *p), settings)]
    log.info("expanded weights: %d layer pairs, %d to compute", len(todo_pairs), len(todo))
    if todo and ray is not None:
        from visioncircuits.distributed.backend import default_shards, run_shards
        from visioncircuits.distributed.cluster import ray_session
        from visioncircuits.distributed.shards import unit_shards

        with ray_session(ray) as r:
            shards = unit_shards(todo, default_shards(r, ray, len(todo)))
            run_shards(_pairs_task, shards, ray, shared=(model, str(out), crop, size, center),
                       desc=f"expanded weights ({len(todo)} layer pairs)", unit="pair")
    else:
        for lo, up in tqdm(todo, desc="expanded weights", unit="pair", disable=not progress):
            compute_pair(model, lo, up, out, crop, size, center)
    rows = []
    for lo, up in todo_pairs:
        from safetensors import safe_open

        with safe_open(str(pair_file(out, lo, up)), "pt") as f:
            shape = list(f.get_slice("weights").get_shape())
        rows.append({"lower": lo, "upper": up, "file": pair_file(out, lo, up).name, "shape": shape})
    manifest = {"model": model.spec.name, "settings": settings, "mode": pairs, "pairs": rows}
    write_json(out / "expanded.json", manifest)
    return manifest
