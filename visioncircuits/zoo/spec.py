"""Model specs: everything needed to build, preprocess, load and describe a model."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch
from torch import nn


class Preprocess(nn.Module):
    """[0, 1] RGB -> the network's own input space: ``(x * scale - mean) / std`` per channel."""

    mean: torch.Tensor  # buffers, declared for type checkers
    std: torch.Tensor

    def __init__(
        self, mean: Sequence[float] = (0.0, 0.0, 0.0), std: Sequence[float] = (1.0, 1.0, 1.0), scale: float = 1.0
    ):
        super().__init__()
        self.scale = float(scale)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.scale - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ModelSpec:
    """A registered model.

    ``build`` makes the bare network (random weights); ``url``/``filename``/``sha256`` say
    where its published weights live; ``main_layers`` are the layers galleries, circuits and
    universality walk by default; ``convert_state_dict`` maps a published checkpoint's keys
    onto ``build()``'s.
    """

    name: str
    family: str
    description: str
    build: Callable[[], nn.Module]
    input_size: int = 224
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD
    scale: float = 1.0
    num_classes: int = 1000
    class_names: Optional[Sequence[str]] = None
    url: Optional[str] = None
    filename: Optional[str] = None
    sha256: Optional[str] = None  # full digest or a prefix (torch.hub style)
    main_layers: Sequence[str] = ()
    card: Optional[str] = None
    convert_state_dict: Optional[Callable[[dict], dict]] = None
    load_pretrained: Optional[Callable[[nn.Module], nn.Module]] = None  # e.g. timm's own hub loader
    default_weights: Optional[str] = None  # a local file shipped with the project (toy zoo)
    extra: dict = field(default_factory=dict)

    @property
    def has_default_weights(self) -> bool:
        """Whether the project ships this model's weights and the file is present."""
        return bool(self.default_weights) and Path(str(self.default_weights)).exists()

    def preprocess(self) -> Preprocess:
        return Preprocess(self.mean, self.std, self.scale)
