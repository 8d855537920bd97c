"""Fingerprints of everything that determines a resumable output, so a resume never reuses
work done with another model, other weights or other settings.

Why: a resumed job trusts what it finds on disk. Comparing only the settings and a unit's
address let a gallery of toy-vgg-s1 "resume" into toy-vgg-s0's images. A fingerprint is a
JSON-able dict (model name, weights digest, settings, seeding-scheme and package version);
its :func:`digest` is stored with every finished piece of work and compared on resume.
"""
from __future__ import annotations

import hashlib
import json
import os
import weakref
from pathlib import Path
from typing import Any, Optional, Union

import torch

_FILE_CACHE: dict = {}  # (resolved path, size, mtime_ns) -> sha256
_STATE_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # module -> (versions, sha256)


def file_sha256(path: Union[str, os.PathLike]) -> str:
    """sha256 of a file's bytes, cached per process while its size and mtime are unchanged."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _FILE_CACHE:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _FILE_CACHE[key] = h.hexdigest()
    return _FILE_CACHE[key]


def state_sha256(module: torch.nn.Module) -> str:
    """sha256 over a module's parameters and buffers (names, dtypes, shapes, bytes).

    Cached per module until a tensor is modified in place (``Tensor._version`` changes)."""
    state = module.state_dict(keep_vars=True)
    versions = tuple(int(getattr(t, "_version", 0)) for t in state.values())
    hit = _STATE_CACHE.get(module)
    if hit is not None and hit[0] == versions:
        return hit[1]
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    out = h.hexdigest()
    _STATE_CACHE[module] = (versions, out)
    return out


def weights_digest(model) -> str:
    """``"file:<sha256>"`` of the weights file the model was loaded from, else ``"state:<sha256>"``
    of its tensors (random init, a wrapped module)."""
    src = getattr(model, "weights_source", None)
    if src and Path(src).is_file():
        return "file:" + file_sha256(src)
    return "state:" + state_sha256(model)


def model_fingerprint(model) -> dict:
    """The model's part of every fingerprint: its name and weights digest."""
    return {"model": model.spec.name, "weights": weights_digest(model)}


def folder_fingerprint(folder: Union[str, os.PathLike, None]) -> Optional[dict]:
    """A dataset folder by path and content listing (relative names and sizes of its image files)."""
    if folder is None:
        return None
    from visioncircuits.data import list_images

    root = Path(folder)
    files = list_images(root)
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.relative_to(root).as_posix()}|{f.stat().st_size}\n".encode("utf-8", "surrogateescape"))
    return {"folder": str(folder), "files": len(files), "listing": h.hexdigest()[:16]}


def sae_fingerprint(sae_dir: Union[str, os.PathLike]) -> dict:
    """An SAE folder by its files' digests (cfg.json and weights), so a retrained SAE is not reused."""
    d = Path(sae_dir)
    return {"sae": str(sae_dir), "files": {f.name: file_sha256(f)[:16] for f in sorted(d.iterdir())
                                           if f.is_file() and f.suffix in (".json", ".safetensors", ".pt")
                                           and not f.name.startswith(".")}}


def canonical(obj: Any) -> Any:
    """A JSON-able form of settings: tensors by digest, other objects by ``repr``."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        return {"tensor": list(t.shape), "sha256": hashlib.sha256(t.float().numpy().tobytes()).hexdigest()[:16]}
    if isinstance(obj, dict):
        return {str(k): canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return repr(obj)


def digest(fingerprint: Any) -> str:
    """A short stable digest of a fingerprint (sha256 of its canonical JSON)."""
    text = json.dumps(canonical(fingerprint), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def package_version() -> str:
    from visioncircuits import __version__

    return __version__
