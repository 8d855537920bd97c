"""From "model, layer, data" to a trained and evaluated SAE directory (what the CLI and demo call).

Why a separate module: the CLI must stay a thin argument parser, and the demo and the
benchmark need exactly the same data handling (training crops vs. held-out evaluation
images, toy world vs. folder) without going through argparse.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator, Optional, Union

import torch

from visioncircuits.atomic import write_json
from visioncircuits.errors import InputError
from visioncircuits.sae.io import load_sae, save_sae
from visioncircuits.sae.metrics import evaluate_sae
from visioncircuits.sae.models import SparseAutoencoder
from visioncircuits.sae.stream import ActivationStream, FolderSource, ToyWorldSource, split_folder
from visioncircuits.sae.train import TrainConfig, train_sae

log = logging.getLogger(__name__)

TOY_EVAL_SEED = 424242  # held-out toy-world scenes (training streams use other seeds)


def training_source(model, dataset: Optional[Union[str, os.PathLike]] = None, toyworld: bool = False, seed: int = 0,
                    isolated_fraction: float = 0.0):
    """Augmented image source for training: random crops/flips of ``dataset`` or toy scenes
    (with ``isolated_fraction`` of each batch images of one primitive alone)."""
    if (dataset is None) == (not toyworld):
        raise InputError("give exactly one training data source: dataset (an image folder) or toyworld=True")
    size = int(model.spec.input_size)
    if toyworld:
        return ToyWorldSource(size=size, seed=seed, isolated_fraction=isolated_fraction)
    assert dataset is not None
    return FolderSource(dataset, size=size, seed=seed, paths=split_folder(dataset)[0])


def eval_batches(model, dataset: Optional[Union[str, os.PathLike]] = None, toyworld: bool = False, n_images: int = 256,
                 batch: int = 64) -> Iterator[tuple[torch.Tensor, Optional[torch.Tensor]]]:
    """Held-out evaluation images: centre crops of the held-out files of ``dataset`` (every
    5th file, never used for training; no labels) or fresh toy scenes (with class labels, so
    the loss is cross-entropy)."""
    size = int(model.spec.input_size)
    if toyworld:
        from visioncircuits.toyworld import generate

        for lo in range(0, n_images, batch):
            b = generate(min(batch, n_images - lo), seed=TOY_EVAL_SEED + lo, size=size)
            yield b.images, b.labels
        return
    from visioncircuits.data import ImageFolder

    if dataset is None:
        raise InputError("give evaluation data: dataset (an image folder) or toyworld=True")
    held = split_folder(dataset)[1][:n_images]
    for _, images in ImageFolder(dataset, size=size, paths=held).batches(batch):
        yield images, None


def describe_data(dataset, toyworld: bool) -> dict:
    if toyworld:
        return {"kind": "toyworld"}
    train, held = split_folder(dataset)
    return {"kind": "folder", "path": str(Path(dataset).resolve()), "train_images": len(train),
            "heldout_images": len(held), "split": "every 5th file (sorted) held out for evaluation"}


def train_layer_sae(model, layer: str, cfg: TrainConfig, out_dir: Union[str, os.PathLike], dataset=None,
                    toyworld: bool = False, positions: Optional[int] = None, image_batch: int = 32,
                    buffer: int = 65536, eval_images: int = 256, progress: bool = True,
                    stop_after: Optional[int] = None, isolated_fraction: float = 0.0,
                    overwrite: bool = False) -> tuple[SparseAutoencoder, dict]:
    """Train an SAE on ``layer`` of ``model`` and evaluate it; returns (sae, metrics).

    ``isolated_fraction`` (toy world only): share of each image batch that is images of one
    primitive alone (see :class:`ToyWorldSource`). Resumes from a checkpoint in ``out_dir``;
    the finished SAE and its metrics (``metrics.json``, also in ``cfg.json``) are written there.
    A finished SAE of other settings (or another model's weights) in ``out_dir`` is an
    ``InputError`` unless ``overwrite``.
    """
    info = model.resolve_layer(layer)
    if len(info.shape) not in (1, 3):
        raise InputError(f"layer '{layer}' has output shape {info.shape}; SAEs need (C,) or (C, H, W) activations")
    if isolated_fraction and not toyworld:
        raise InputError("isolated_fraction needs toy-world training data (toyworld=True)")
    source = training_source(model, dataset, toyworld, seed=cfg.seed, isolated_fraction=isolated_fraction)
    stream = ActivationStream(model, layer, source, image_batch=image_batch, positions=positions, buffer=buffer,
                              seed=cfg.seed)
    from visioncircuits.fingerprint import weights_digest

    meta = {"model": model.spec.name, "model_weights": weights_digest(model), "layer": layer,
            "layer_shape": list(info.shape),
            "training_data": {**describe_data(dataset, toyworld),
                              "augment": "random resized crops + flips" if dataset else "fresh scenes",
                              "positions_per_image": positions,
                              **({"isolated_fraction": isolated_fraction} if isolated_fraction else {})}}
    sae = train_sae(stream, info.channels, cfg, out_dir=out_dir, meta=meta, progress=progress, device=model.device,
                    stop_after=stop_after, overwrite=overwrite)
    if not sae.cfg["training"]["finished"]:
        return sae, {}
    metrics = evaluate_sae(model, sae, eval_batches(model, dataset, toyworld, eval_images), layer, progress=progress)
    metrics["eval_data"] = describe_data(dataset, toyworld)
    save_sae(sae, out_dir, extra_cfg={"metrics": metrics})
    write_json(Path(out_dir) / "metrics.json", metrics)
    return sae, metrics


def training_data_of(cfg) -> Optional[tuple[Optional[str], bool]]:
    """``(dataset, toyworld)`` the SAE with config ``cfg`` was trained on, if still available.

    None when the training data is unknown or its folder is gone (the caller must then
    name evaluation data).
    """
    td = cfg.get("training_data") or {}
    if td.get("kind") == "toyworld":
        return None, True
    if td.get("kind") == "folder" and Path(td.get("path", "")).is_dir():
        return td["path"], False
    return None


def evaluate_dir(model, sae_dir: Union[str, os.PathLike], dataset=None, toyworld: bool = False, n_images: int = 256,
                 progress: bool = True) -> dict:
    """Metrics of the SAE in ``sae_dir`` on ``model``; data defaults to what it was trained on."""
    sae = load_sae(sae_dir, device=model.device)
    if sae.cfg.model not in (None, model.spec.name):
        raise InputError(f"the SAE at {sae_dir} was trained on {sae.cfg.model}, not {model.spec.name}")
    if dataset is None and not toyworld:
        found = training_data_of(sae.cfg)
        if found is None:
            td = sae.cfg.training_data
            raise InputError("no evaluation data: give dataset=DIR or toyworld=True "
                             f"(the SAE's training data {td or 'is unknown'})")
        dataset, toyworld = found
    layer = sae.cfg.layer
    if layer is None:
        raise InputError(f"the SAE at {sae_dir} does not say which layer it reads (no 'layer' in its cfg.json)")
    info = model.resolve_layer(layer)
    if info.channels != sae.d_in:
        raise InputError(f"the SAE reads {sae.d_in} channels but layer '{layer}' of {model.spec.name} "
                         f"has {info.channels}")
    out = evaluate_sae(model, sae, eval_batches(model, dataset, toyworld, n_images), layer, progress=progress)
    out["eval_data"] = describe_data(dataset, toyworld)
    return out
