"""From a unit address to its activation map: channels, positions and SAE latents alike.

This is what makes SAE latents first-class: featvis objectives, dataset examples, circuits
and universality all call :func:`unit_map` and never special-case the unit kind.
"""
from __future__ import annotations

import os
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Union

import torch

from visioncircuits.errors import InputError
from visioncircuits.units import Unit, parse_unit


def resolve_unit(model, unit: Union[str, Unit]) -> Unit:
    """Parse (if needed) and validate ``unit`` against ``model``; fills an SAE latent's layer.

    Raises a clear error for an unknown layer (closest names), a channel out of range, or an
    SAE trained on another layer/model.
    """
    if isinstance(unit, str):
        unit = parse_unit(unit)
    if unit.kind == "logit":
        n = model.spec.num_classes
        if not 0 <= unit.index < n:
            raise InputError(f"class {unit.index} out of range: {model.spec.name} has {n} classes (0..{n - 1})")
        return unit
    if unit.kind == "sae":
        cfg = sae_config(str(unit.sae))
        layer = str(cfg.get("layer"))
        unit = replace(unit, layer=layer)
        model.resolve_layer(layer)
        d_sae = int(cfg.get("d_sae", 0))
        if not 0 <= unit.index < d_sae:
            raise InputError(
                f"latent {unit.index} out of range: the SAE at {unit.sae} has {d_sae} latents (0..{d_sae - 1})"
            )
    else:
        model.check_unit(str(unit.layer), unit.index)
    if unit.y is not None and unit.x is not None:
        shape = model.resolve_layer(str(unit.layer)).shape
        if len(shape) < 3 or not (0 <= unit.y < shape[1] and 0 <= unit.x < shape[2]):
            raise InputError(
                f"position @{unit.y},{unit.x} out of range for layer '{unit.layer}' of shape {tuple(shape)}"
            )
    return unit


def sae_config(sae_dir: str):
    """The checked config of the SAE in ``sae_dir`` (an :class:`~visioncircuits.sae.config.SAEConfig`;
    dict-style reads such as ``["layer"]`` work). Same reader, same checks as ``load_sae``."""
    from visioncircuits.sae.config import read_config

    return read_config(sae_dir)


@lru_cache(maxsize=16)
def _cached_sae(sae_dir: str, device: str, stamp: tuple):
    from visioncircuits.sae.io import load_sae

    return load_sae(sae_dir, device=device)


def _stamp(sae_dir: str) -> tuple:
    """Identity of the SAE's files (mtime, inode, size), so a retrained SAE in the same folder is reloaded."""
    from visioncircuits.sae.config import CONFIG_FILE, WEIGHTS_FILE

    out = []
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        try:
            st = os.stat(Path(sae_dir) / name)
            out.append((st.st_mtime_ns, st.st_ino, st.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


def get_sae(sae_dir: str, device=None):
    """The SAE saved in ``sae_dir`` on ``device`` (default CPU), loaded once per (folder, device).

    Each device gets its own copy: a module shared between callers is never moved, so a
    caller on CUDA cannot pull the weights from under a caller on the CPU.
    """
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    path = str(Path(sae_dir).resolve())
    return _cached_sae(path, str(dev), _stamp(path))


def unit_map(unit: Unit, acts: torch.Tensor) -> torch.Tensor:
    """The unit's activation map from its layer's activation: (N, C, H, W) -> (N, H, W).

    For (N, C) activations (a linear layer) the result is (N, 1, 1). SAE latents encode
    every position with the SAE. Gradients flow through.
    """
    if acts.dim() == 2:
        acts = acts[:, :, None, None]
    if unit.kind == "sae":
        from visioncircuits.sae.units import sae_latent_map

        return sae_latent_map(get_sae(str(unit.sae), acts.device), acts, unit.index)
    return acts[:, unit.index]


def unit_value(unit: Unit, acts: torch.Tensor) -> torch.Tensor:
    """One number per image: the map at the unit's position, else its spatial mean."""
    m = unit_map(unit, acts)
    if unit.has_position:
        return m[:, unit.y, unit.x]
    return m.mean(dim=(1, 2))
