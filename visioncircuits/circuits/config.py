"""``CircuitConfig``: how :func:`~visioncircuits.circuits.graph.build_circuit` walks and prunes.

Sixteen keyword arguments became one validated object (messages name fields); the CLI
builds it from its flags, the demo and scripts pass it around whole.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional, Sequence, Union

from visioncircuits.circuits.prune import check_pruning
from visioncircuits.errors import InputError, unknown

METHODS = ("weights", "attribution")


@dataclass(frozen=True)
class CircuitConfig:
    """Settings of a circuit walk.

    ``method="weights"`` is data-free (expanded weights); ``"attribution"`` needs a dataset
    and uses ``attribution`` (activation_x_gradient, integrated_gradients, conductance) over
    ``n_images``. ``depth`` layers down, ``top_k`` inputs per node (and, with ``share``, stop
    once the kept edges hold that share of the influence), ranked by ``rank`` (abs, positive,
    negative). ``layers``: the layers to walk (default the model's main layers; ``"sae:DIR"``
    for SAE latents). ``crop``: expanded-weights window ("auto", None or a size). ``stats``:
    node activation statistics when a dataset is given. ``metrics``: measure faithfulness,
    completeness, ``null_samples`` random circuits (seeded by ``seed``) and the faithfulness
    curve when images are given (:mod:`visioncircuits.circuits.metrics`).

    Examples:
        >>> CircuitConfig(depth=3, top_k=4, rank="positive").depth
        3
    """

    depth: int = 2
    top_k: int = 3
    method: str = "weights"
    layers: Optional[Sequence[str]] = None
    share: Optional[float] = None
    rank: str = "abs"
    attribution: str = "activation_x_gradient"
    n_images: Optional[int] = 64
    crop: Union[None, int, str] = "auto"
    stats: bool = True
    progress: bool = False
    metrics: bool = False
    null_samples: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        from visioncircuits.circuits.attribution import get_method

        if self.method not in METHODS:
            raise unknown("circuit method", self.method, METHODS)
        if not isinstance(self.depth, int) or isinstance(self.depth, bool) or self.depth < 1:
            raise InputError(f"depth must be a positive integer, got {self.depth!r}")
        check_pruning(self.top_k, self.share, self.rank)
        get_method(self.attribution)  # unknown -> closest names
        if self.n_images is not None and int(self.n_images) < 1:
            raise InputError(f"n_images must be positive, got {self.n_images}")
        if not isinstance(self.null_samples, int) or self.null_samples < 0 or self.null_samples == 1:
            raise InputError(f"null_samples must be 0 (no null) or at least 2, got {self.null_samples!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise InputError(f"seed must be an integer, got {self.seed!r}")
        if self.layers is not None:
            object.__setattr__(self, "layers", tuple(str(x) for x in self.layers))

    def replace(self, **changes) -> CircuitConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def resolve(cls, config: Optional[CircuitConfig] = None, **overrides) -> CircuitConfig:
        """``config`` with keyword ``overrides`` (unknown names are a ``TypeError``)."""
        base = config if config is not None else None
        names = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(overrides) - names)
        if bad:
            raise TypeError(
                f"unexpected keyword argument(s) {', '.join(bad)}; CircuitConfig fields are {', '.join(sorted(names))}"
            )
        if base is None:
            return cls(**overrides)
        if not isinstance(base, cls):
            raise InputError(f"config must be a {cls.__name__}, got {type(base).__name__}")
        return dataclasses.replace(base, **overrides) if overrides else base
