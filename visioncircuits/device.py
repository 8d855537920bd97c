"""Device choice in one place: never a hard-coded cuda:0."""
from __future__ import annotations

from typing import Optional, Union

import torch

from visioncircuits.errors import InputError


def pick_device(device: Optional[Union[str, torch.device]] = None) -> torch.device:
    """``device`` if given (validated), else CUDA when available, else CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device '{device}'; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device '{device}' requested but CUDA is not available here")
    return dev
