"""``RenderConfig``: the rendering settings, written once for ``render``, ``render_batch``,
``render_diverse``, ``build_gallery`` and the CLI's render options.

They used to travel as 9-13 keyword arguments repeated at every call; a config object is
validated once (messages name fields, not CLI flags) and passed on whole.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from visioncircuits.errors import InputError


@dataclass(frozen=True)
class RenderConfig:
    """How to optimise images.

    ``size`` defaults to the model's input size; ``batch_size`` to what fits
    ``memory_budget_mb`` (``render`` only); ``lr`` to the parameterisation's;
    ``param_kwargs`` go to the parameterisation (``magnitude=`` for MACO, ``colour=``/``sd=``
    for FFT); ``exact``: one thread, deterministic kernels and every image in a batch of its own
    (:func:`visioncircuits.device.exact_mode`), so renders are byte-identical however units are
    batched, sharded or resumed, instead of equal to float rounding; ``redirect_relu``: redirected ReLU gradients
    for the first steps (True: Lucid's 16, at most half; False; a step count; or a fraction in
    (0, 1)); ``eval_every`` > 0 records
    the objective during optimisation (``render`` only).

    Examples:
        >>> cfg = RenderConfig(steps=128, size=64, param="maco")
        >>> cfg.replace(seed=1).seed
        1
    """

    steps: int = 256
    size: Optional[int] = None
    param: str = "fft"
    seed: int = 0
    batch_size: Optional[int] = None
    transforms: Any = "default"
    lr: Optional[float] = None
    progress: bool = True
    memory_budget_mb: Optional[float] = None
    param_kwargs: dict = field(default_factory=dict)
    eval_every: int = 0
    redirect_relu: Union[bool, int, float] = True
    # opt-in speed options (featvis.fast_loop); the defaults keep renders as they were
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    coarse_to_fine: float = 0.0
    lr_schedule: str = "constant"
    early_stop: Optional[float] = None
    # numeric mode: byte-identical renders however the work is split (slower; featvis.seeding)
    exact: bool = False

    def __post_init__(self) -> None:
        # 0/None for size, batch_size and lr mean "the default", as they always did
        if isinstance(self.steps, bool) or int(self.steps) != self.steps or self.steps < 0:
            raise InputError(f"RenderConfig.steps must be an integer >= 0, got {self.steps!r}")
        if self.size is not None and self.size < 0:
            raise InputError(f"RenderConfig.size must be >= 1, got {self.size}")
        if self.batch_size is not None and self.batch_size < 0:
            raise InputError(f"RenderConfig.batch_size must be >= 1, got {self.batch_size}")
        if self.lr is not None and self.lr < 0:
            raise InputError(f"RenderConfig.lr must be > 0, got {self.lr}")
        if self.eval_every < 0:
            raise InputError(f"RenderConfig.eval_every must be >= 0, got {self.eval_every}")
        self._check_speed_options()
        object.__setattr__(self, "steps", int(self.steps))
        object.__setattr__(self, "param_kwargs", dict(self.param_kwargs or {}))

    def _check_speed_options(self) -> None:
        from visioncircuits.featvis.coarse_to_fine import SUPPORTED
        from visioncircuits.featvis.precision import PRECISIONS
        from visioncircuits.featvis.schedule import SCHEDULES

        if self.precision not in PRECISIONS:
            raise InputError(f"RenderConfig.precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.lr_schedule not in SCHEDULES:
            raise InputError(
                f"RenderConfig.lr_schedule must be one of {', '.join(SCHEDULES)}, got {self.lr_schedule!r}")
        if not 0 <= self.coarse_to_fine < 1:
            raise InputError(f"RenderConfig.coarse_to_fine must be a fraction of the steps in [0, 1), "
                             f"got {self.coarse_to_fine!r}")
        if self.coarse_to_fine and self.param not in SUPPORTED:
            raise InputError(f"RenderConfig.coarse_to_fine supports param {' or '.join(SUPPORTED)}, got {self.param!r}")
        if self.early_stop is not None and not self.early_stop >= 0:
            raise InputError(
                f"RenderConfig.early_stop must be a relative tolerance >= 0 or None, got {self.early_stop!r}")

    @classmethod
    def fast(cls, **overrides) -> RenderConfig:
        """The ``--fast`` preset: the speed options that helped in ``visioncircuits bench featvis``
        (see docs/readme/featvis.md); renders differ from the default settings' renders."""
        return cls(**{**FAST_PRESET, **overrides})

    def replace(self, **changes) -> RenderConfig:
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def resolve(cls, config: Optional[RenderConfig] = None, **overrides) -> RenderConfig:
        """``config`` (default: the defaults) with keyword ``overrides``; unknown names are a
        ``TypeError``, as for any function. Lets ``render(model, u, steps=64)`` keep working."""
        base = config if config is not None else cls()
        if not isinstance(base, cls):
            raise InputError(f"config must be a {cls.__name__}, got {type(base).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(overrides) - names)
        if bad:
            raise TypeError(
                f"unexpected keyword argument(s) {', '.join(bad)}; RenderConfig fields are {', '.join(sorted(names))}"
            )
        overrides = {k: v for k, v in overrides.items() if k != "param_kwargs" or v is not None}
        return dataclasses.replace(base, **overrides) if overrides else base


# measured by `visioncircuits bench featvis --mode options` (docs/readme/featvis.md, "Speed")
FAST_PRESET: dict = {"channels_last": True, "precision": "bf16", "coarse_to_fine": 0.5, "lr_schedule": "constant"}
