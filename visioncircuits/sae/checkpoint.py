"""Training checkpoints: SAE weights, Adam state and trainer counters in ONE safetensors file.

Why one file: it is replaced atomically, so after a kill at any moment the checkpoint on disk
is either the previous one or the new one, never a mix of weights from one step and
optimizer state from another. Trainer state (step, config, running metrics) rides in the
file's string metadata as JSON.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import torch

from visioncircuits.atomic import write_bytes
from visioncircuits.sae.models import SparseAutoencoder

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.safetensors"
_PARAMS = ("W_enc", "b_enc", "W_dec", "b_dec", "input_scale", "threshold")


def save_checkpoint(out_dir: Path, sae: SparseAutoencoder, opt: torch.optim.Optimizer, since_fired: torch.Tensor,
                    state: dict) -> Path:
    from safetensors.torch import save

    tensors = {f"sae.{n}": getattr(sae, n).detach().cpu().contiguous() for n in _PARAMS}
    tensors["since_fired"] = since_fired.detach().cpu().contiguous()
    opt_state = opt.state_dict()
    steps = {}
    for pid, st in opt_state["state"].items():
        for key, val in st.items():
            if isinstance(val, torch.Tensor) and val.dim() > 0:
                tensors[f"opt.{pid}.{key}"] = val.detach().cpu().contiguous()
            else:
                steps[f"{pid}.{key}"] = float(val)
    meta = {"state": json.dumps(state), "opt_scalars": json.dumps(steps),
            "param_groups": json.dumps(opt_state["param_groups"])}
    return write_bytes(Path(out_dir) / CHECKPOINT_FILE, save(tensors, metadata=meta))


def load_checkpoint(out_dir: Path, sae: SparseAutoencoder, opt: torch.optim.Optimizer,
                    since_fired: torch.Tensor) -> Optional[dict]:
    """Restore a checkpoint into ``sae``/``opt``/``since_fired``; returns its trainer state, or
    None when there is no checkpoint (or it is unreadable, which is logged and ignored)."""
    from safetensors import SafetensorError, safe_open

    path = Path(out_dir) / CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        state = json.loads(meta["state"])
        scalars = json.loads(meta["opt_scalars"])
        groups = json.loads(meta["param_groups"])
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        log.warning("ignoring unreadable checkpoint %s: %s", path, e)
        return None
    dev = sae.W_enc.device
    with torch.no_grad():
        for n in _PARAMS:
            getattr(sae, n).copy_(tensors[f"sae.{n}"])
        since_fired.copy_(tensors["since_fired"])
    opt_state: dict = {"state": {}, "param_groups": groups}
    for key, val in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            opt_state["state"].setdefault(int(pid), {})[name] = val.to(dev)
    for key, val in scalars.items():
        pid, name = key.split(".", 1)
        opt_state["state"].setdefault(int(pid), {})[name] = torch.tensor(val)
    opt.load_state_dict(opt_state)
    return state
