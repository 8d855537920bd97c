"""Save and load SAEs as ``sae.safetensors`` + ``cfg.json`` (the on-disk contract).

Why this format: any tool can read it with plain ``safetensors`` (tensors ``W_enc`` (d_in x
d_sae), ``b_enc``, ``W_dec`` (d_sae x d_in), ``b_dec``, plus scalars ``input_scale`` and
``threshold``), and no pickled code is ever run. Both files are written atomically, the
tensors first, so a directory with a ``cfg.json`` always holds matching weights.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional, Union

import torch

from visioncircuits.atomic import write_bytes, write_json
from visioncircuits.errors import InputError, WeightsError
from visioncircuits.sae.models import SparseAutoencoder

WEIGHTS_FILE = "sae.safetensors"
CONFIG_FILE = "cfg.json"
FORMAT_VERSION = 1
TENSORS = ("W_enc", "b_enc", "W_dec", "b_dec", "input_scale", "threshold")


def save_sae(sae: SparseAutoencoder, out_dir: Union[str, os.PathLike], extra_cfg: Optional[dict] = None) -> Path:
    """Write ``sae`` to ``out_dir`` (created if needed); returns the directory."""
    from safetensors.torch import save

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"cannot save SAE: {out} exists and is not a folder")
    sae._sync_cfg()
    if extra_cfg:
        sae.cfg.update(extra_cfg)
    tensors = {name: getattr(sae, name).detach().to("cpu", torch.float32).contiguous() for name in TENSORS}
    write_bytes(
        out / WEIGHTS_FILE, save(tensors, metadata={"format": "visioncircuits-sae", "version": str(FORMAT_VERSION)})
    )
    write_json(out / CONFIG_FILE, {**sae.cfg, "format_version": FORMAT_VERSION})
    return out


def read_cfg(sae_dir: Union[str, os.PathLike]) -> dict:
    """The ``cfg.json`` of an SAE directory, with a clear error if missing or corrupt."""
    d = Path(sae_dir)
    if not d.exists():
        raise InputError(f"no SAE at {d}: folder not found")
    if not d.is_dir():
        raise InputError(f"no SAE at {d}: not a folder (expected a folder with {WEIGHTS_FILE} and {CONFIG_FILE})")
    path = d / CONFIG_FILE
    if not path.exists():
        raise InputError(f"no SAE at {d}: {CONFIG_FILE} not found")
    try:
        cfg = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"corrupt SAE config {path}: {e}") from None
    if not isinstance(cfg, dict):
        raise InputError(f"corrupt SAE config {path}: expected a JSON object")
    for key in ("architecture", "d_in", "d_sae"):
        if key not in cfg:
            raise InputError(f"corrupt SAE config {path}: missing '{key}'")
    return cfg


def load_sae(sae_dir: Union[str, os.PathLike], device: Optional[Union[str, torch.device]] = None) -> SparseAutoencoder:
    """Load the SAE saved in ``sae_dir`` (eval mode) onto ``device`` (default CPU).

    Missing or corrupt files, missing tensors and shapes that do not match ``cfg.json`` are
    reported as one clear error; nothing half-loaded is returned.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    cfg = read_cfg(sae_dir)
    path = Path(sae_dir) / WEIGHTS_FILE
    if not path.exists():
        raise WeightsError(f"SAE at {sae_dir} has no {WEIGHTS_FILE}")
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise WeightsError(f"cannot read {path} (corrupt or truncated?): {str(e).splitlines()[0]}") from None
    try:
        d_in, d_sae = int(cfg["d_in"]), int(cfg["d_sae"])
        k = cfg.get("k")
        sae = SparseAutoencoder(d_in, d_sae, cfg["architecture"], None if k is None else int(k), cfg=cfg)
    except (TypeError, ValueError) as e:
        raise InputError(f"corrupt SAE config {Path(sae_dir) / CONFIG_FILE}: {e}") from None
    expected = {"W_enc": (d_in, d_sae), "b_enc": (d_sae,), "W_dec": (d_sae, d_in), "b_dec": (d_in,)}
    for name, shape in expected.items():
        if name not in tensors:
            raise WeightsError(f"{path} has no tensor '{name}' (found: {', '.join(sorted(tensors)) or 'none'})")
        if tuple(tensors[name].shape) != shape:
            raise WeightsError(f"{path}: tensor '{name}' has shape {tuple(tensors[name].shape)}, cfg.json says {shape}")
    with torch.no_grad():
        for name in TENSORS:
            if name in tensors:
                getattr(sae, name).copy_(tensors[name])
            elif name == "input_scale" and "input_scale" in cfg:
                sae.input_scale.fill_(float(cfg["input_scale"]))
    sae.cfg = dict(cfg)
    sae.eval()
    if device is not None:
        sae = sae.to(device)
    return sae
