"""Save and load SAEs as ``sae.safetensors`` + ``cfg.json`` (the on-disk contract).

Why this format: any tool can read it with plain ``safetensors`` (tensors ``W_enc`` (d_in x
d_sae), ``b_enc``, ``W_dec`` (d_sae x d_in), ``b_dec``, plus scalars ``input_scale`` and
``threshold``), and no pickled code is ever run. Both files are written atomically, the
tensors first, so a directory with a ``cfg.json`` always holds matching weights.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import torch

from visioncircuits.atomic import write_bytes
from visioncircuits.errors import InputError, WeightsError
from visioncircuits.sae.config import CONFIG_FILE, FORMAT_VERSION, WEIGHTS_FILE, SAEConfig, read_config
from visioncircuits.sae.models import SparseAutoencoder

__all__ = ["CONFIG_FILE", "FORMAT_VERSION", "TENSORS", "WEIGHTS_FILE", "load_sae", "read_cfg", "read_config",
           "save_sae"]

TENSORS = ("W_enc", "b_enc", "W_dec", "b_dec", "input_scale", "threshold")


def save_sae(sae: SparseAutoencoder, out_dir: Union[str, os.PathLike],
             extra_cfg: Optional[Mapping[str, Any]] = None) -> Path:
    """Write ``sae`` to ``out_dir`` (created if needed); returns the directory.

    ``extra_cfg`` fields (e.g. ``{"metrics": ...}``) are merged into ``sae.cfg`` first.
    """
    from safetensors.torch import save

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"cannot save SAE: {out} exists and is not a folder")
    sae._sync_cfg()
    if extra_cfg:
        sae.cfg.update(extra_cfg)
    tensors = {name: getattr(sae, name).detach().to("cpu", torch.float32).contiguous() for name in TENSORS}
    meta = {"format": "visioncircuits-sae", "version": str(FORMAT_VERSION)}
    write_bytes(out / WEIGHTS_FILE, save(tensors, metadata=meta))
    sae.cfg.save(out)
    return out


def read_cfg(sae_dir: Union[str, os.PathLike]) -> SAEConfig:
    """Deprecated alias of :func:`visioncircuits.sae.config.read_config` (kept for one release)."""
    return read_config(sae_dir)


def load_sae(sae_dir: Union[str, os.PathLike], device: Optional[Union[str, torch.device]] = None) -> SparseAutoencoder:
    """Load the SAE saved in ``sae_dir`` (eval mode) onto ``device`` (default CPU).

    Missing or corrupt files, a ``cfg.json`` of the wrong shape or types, missing tensors and
    shapes that do not match ``cfg.json`` are reported as one clear error; nothing
    half-loaded is returned.

    Examples:
        >>> sae = load_sae("runs/sae-layer3")            # doctest: +SKIP
        >>> sae.cfg.layer, sae.cfg["d_sae"], sae.encode(acts).shape   # doctest: +SKIP
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    cfg = read_config(sae_dir)
    path = Path(sae_dir) / WEIGHTS_FILE
    if not path.exists():
        raise WeightsError(f"SAE at {sae_dir} has no {WEIGHTS_FILE}")
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise WeightsError(f"cannot read {path} (corrupt or truncated?): {str(e).splitlines()[0]}") from None
    d_in, d_sae = cfg.d_in, cfg.d_sae
    expected = {"W_enc": (d_in, d_sae), "b_enc": (d_sae,), "W_dec": (d_sae, d_in), "b_dec": (d_in,)}
    for name, shape in expected.items():
        if name not in tensors:
            raise WeightsError(f"{path} has no tensor '{name}' (found: {', '.join(sorted(tensors)) or 'none'})")
        if tuple(tensors[name].shape) != shape:
            raise WeightsError(f"{path}: tensor '{name}' has shape {tuple(tensors[name].shape)}, cfg.json says {shape}")
    for name in ("input_scale", "threshold"):
        if name in tensors and tensors[name].numel() != 1:
            raise WeightsError(f"{path}: tensor '{name}' must hold one number, has shape {tuple(tensors[name].shape)}")
    sae = SparseAutoencoder.from_config(cfg)
    with torch.no_grad():
        for name in TENSORS:
            if name in tensors:
                getattr(sae, name).copy_(tensors[name].reshape(getattr(sae, name).shape))
    sae.eval()
    if device is not None:
        sae = sae.to(device)
    return sae
