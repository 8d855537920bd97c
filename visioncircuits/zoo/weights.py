"""Safe, offline-aware weight loading.

Only tensors are ever deserialised (``torch.load(weights_only=True)`` or safetensors);
published files are found in the torch.hub cache, downloaded only when online, and checked
against their SHA-256; a model is returned only after every tensor loaded, so a bad file
never leaves a half-loaded model behind.
"""
from __future__ import annotations

import hashlib
import logging
import os
import pickle
import warnings
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from visioncircuits.errors import WeightsError
from visioncircuits.utils import first_line

log = logging.getLogger(__name__)

TORCH_SUFFIXES = (".pth", ".pt", ".th", ".bin", ".ckpt")


def hub_checkpoint_dir() -> Path:
    """Where published checkpoints are cached: ``$TORCH_HOME/hub/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def check_hash(path: Path, expected: Optional[str]) -> None:
    """Raise if ``path``'s SHA-256 does not start with ``expected`` (a prefix or full digest)."""
    if not expected:
        return
    got = sha256_of(path)
    if not got.startswith(expected.lower()):
        raise WeightsError(
            f"hash mismatch for {path}: sha256 {got[:16]}... does not start with {expected}; "
            "the file is corrupt, truncated or a different model: delete it and fetch it again"
        )


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read tensors from a .safetensors or torch file without running any pickled code."""
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"weights file not found: {path}")
    if path.is_dir():
        raise WeightsError(f"weights path is a directory, expected a file: {path}")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise WeightsError(f"cannot read safetensors file {path}: {first_line(e)}") from None
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol before refusing: one line is enough
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = first_line(e) if str(e).strip() else "unsupported object"
        raise WeightsError(
            f"refused to load {path}: it contains Python objects other than tensors "
            f"(weights_only=True blocked it: {first[:160]})"
        ) from None
    except Exception as e:  # torch's unpickler raises anything (IndexError, KeyError...) on a non-weights file
        msg = first_line(e)
        raise WeightsError(f"cannot read weights file {path} (corrupt or truncated?): {msg[:200]}") from None
    return unwrap_state_dict(obj, path)


def unwrap_state_dict(obj, path: Path | str = "<weights>") -> dict[str, torch.Tensor]:
    """Accept a bare state dict or common wrappers ({'state_dict': ...}, {'model': ...}); strip 'module.'."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path} does not hold a state dict of tensors")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)


def load_into(net: nn.Module, state: dict[str, torch.Tensor], source: str) -> nn.Module:
    """Strictly load ``state`` into ``net``; any missing, unexpected or mis-shaped key is an error."""
    own = net.state_dict()
    state = dict(state)
    for k in own:  # checkpoints from before PyTorch 0.4.1 have no BatchNorm step counter
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = own[k]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if shapes:
            k = shapes[0]
            parts.append(
                f"{len(shapes)} of wrong shape (e.g. {k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)})"
            )
        raise WeightsError(f"weights {source} do not match the model: " + "; ".join(parts))
    net.load_state_dict(state, strict=True)
    return net


def fetch_published(url: str, filename: str, sha256: Optional[str], model_name: str) -> Path:
    """The cached published file, downloading it (to a temp name, then renamed) when online."""
    cache = hub_checkpoint_dir()
    dest = cache / filename
    if dest.exists():
        check_hash(dest, sha256)
        return dest
    if os.environ.get("VISIONCIRCUITS_OFFLINE", "") not in ("", "0"):
        raise offline_error(model_name, url, filename, cache, "VISIONCIRCUITS_OFFLINE is set")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / (filename + ".partial")
    try:
        torch.hub.download_url_to_file(url, str(tmp), hash_prefix=None, progress=False)
    except Exception as e:  # network errors come in many types
        tmp.unlink(missing_ok=True)
        raise offline_error(model_name, url, filename, cache, type(e).__name__) from None
    try:
        check_hash(tmp, sha256)
    except WeightsError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dest)
    return dest


def offline_error(model: str, url: str, filename: str, cache: Path, why: str) -> WeightsError:
    return WeightsError(
        f"no weights for {model}: could not download {url} ({why}); "
        f"put the file at {cache / filename} (set TORCH_HOME to move the cache), "
        f"or pass weights=PATH, or weights='random'"
    )
