"""Typed SAE configuration: what ``cfg.json`` holds, one class per architecture, checked on creation.

Why typed: a ``cfg.json`` edited by hand or written by another tool fails here with one line
naming the field ("TopKSAEConfig.k must be between 1 and d_sae (8), got 0"), not with a
traceback deep inside loading. The classes follow SAELens's layout (one config class per
architecture, ``architecture`` fixed by the class, ``to_dict``/``from_dict``).

Dict-style reads (``cfg["layer"]``, ``cfg.get("training", {})``, ``"metrics" in cfg``) keep
working for code written when ``SparseAutoencoder.cfg`` was a plain dict; they see exactly
the keys of :meth:`SAEConfig.to_dict`. Keys this package does not know are kept in ``extra``
and written back unchanged.

Errors name fields of these classes, never command-line flags: the CLI maps fields to its
flags (:class:`ConfigFieldError` carries the field).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Iterator, Mapping, Optional, Union

from visioncircuits.errors import InputError, VisionCircuitsError, unknown

CONFIG_FILE = "cfg.json"
WEIGHTS_FILE = "sae.safetensors"
FORMAT_VERSION = 1


class ConfigFieldError(InputError):
    """One field of a config object has a bad value: ``[context: ]Owner.field problem`` on one line.

    ``field`` and ``problem`` let a front end (the CLI) say the same thing with its own
    option names.
    """

    def __init__(self, owner: str, field_name: str, problem: str, context: str = ""):
        super().__init__(owner, field_name, problem, context)
        self.owner, self.field, self.problem, self.context = owner, field_name, problem, context

    def __str__(self) -> str:
        return f"{self.context}{self.owner}.{self.field} {self.problem}"


def in_context(err: VisionCircuitsError, prefix: str) -> VisionCircuitsError:
    """The same kind of error with ``prefix: `` in front of its message (a field error keeps its field)."""
    if isinstance(err, ConfigFieldError):
        return ConfigFieldError(err.owner, err.field, err.problem, f"{prefix}: {err.context}")
    return type(err)(f"{prefix}: {err}")


def _describe(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return f"{value!r} ({type(value).__name__})"


def check_int(owner: str, name: str, value: Any, lo: int = 1, hi: Optional[int] = None,
              hi_name: Optional[str] = None) -> int:
    """``value`` as an int in ``lo..hi``, else a ConfigFieldError naming ``owner.name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():  # 64.0 from a JSON writer that has no ints
            value = int(value)
        else:
            bound = f" between {lo} and {hi_name} ({hi})" if hi is not None and hi_name else ""
            raise ConfigFieldError(owner, name, f"must be an integer{bound}, got {_describe(value)}")
    if hi is not None and not lo <= value <= hi:
        bound = f"{hi_name} ({hi})" if hi_name else str(hi)
        raise ConfigFieldError(owner, name, f"must be between {lo} and {bound}, got {value}")
    if value < lo:
        raise ConfigFieldError(owner, name, f"must be at least {lo}, got {value}")
    return int(value)


def check_optional_int(owner: str, name: str, value: Any, lo: int = 1) -> Optional[int]:
    """Like :func:`check_int`, with ``None`` allowed."""
    return None if value is None else check_int(owner, name, value, lo)


def check_float(owner: str, name: str, value: Any, positive: bool = False, nonnegative: bool = False) -> float:
    """``value`` as a finite float (optionally > 0 or >= 0), else a ConfigFieldError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigFieldError(owner, name, f"must be a finite number, got {_describe(value)}")
    if positive and value <= 0:
        raise ConfigFieldError(owner, name, f"must be positive, got {value}")
    if nonnegative and value < 0:
        raise ConfigFieldError(owner, name, f"must be >= 0, got {value}")
    return float(value)


def _check_optional(owner: str, name: str, value: Any, kind: type, what: str) -> None:
    if value is not None and not isinstance(value, kind):
        raise ConfigFieldError(owner, name, f"must be {what} or null, got {_describe(value)}")


@dataclass
class SAEConfig:
    """What defines a saved SAE (``cfg.json``); use a subclass or :meth:`create`/:meth:`from_dict`.

    ``d_in``: channels of the layer it reads; ``d_sae``: latents; ``k``: active latents per
    sample (TopK / BatchTopK); ``input_scale``: factor that gives the training inputs unit
    mean norm; ``threshold``: BatchTopK's inference threshold. ``layer``/``model`` say where
    it was trained; ``training_data``, ``training`` and ``metrics`` are records of the run.

    Examples:
        >>> cfg = SAEConfig.create("topk", d_in=64, d_sae=1024, k=16, layer="layer3")
        >>> cfg["layer"], cfg.architecture
        ('layer3', 'topk')
    """

    d_in: int
    d_sae: int
    k: Optional[int] = None
    input_scale: float = 1.0
    threshold: float = 0.0
    model: Optional[str] = None
    layer: Optional[str] = None
    layer_shape: Optional[list] = None
    training_data: Optional[dict] = None
    training: Optional[dict] = None
    metrics: Optional[dict] = None
    extra: dict = field(default_factory=dict)

    architecture: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if type(self) is SAEConfig:
            raise InputError("SAEConfig is abstract: use SAEConfig.create(architecture, ...) with one of "
                             f"{', '.join(ARCHITECTURES)}")
        self.validate()

    # ----------------------------------------------------------------- checks
    def validate(self) -> None:
        """Check every field (called on creation and after :meth:`update`)."""
        owner = type(self).__name__
        self.d_in = check_int(owner, "d_in", self.d_in)
        self.d_sae = check_int(owner, "d_sae", self.d_sae)
        self._check_k(owner)
        self.input_scale = check_float(owner, "input_scale", self.input_scale, positive=True)
        self.threshold = check_float(owner, "threshold", self.threshold)
        _check_optional(owner, "model", self.model, str, "a string")
        _check_optional(owner, "layer", self.layer, str, "a string")
        if self.layer_shape is not None and (not isinstance(self.layer_shape, (list, tuple))
                                             or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                                                        for s in self.layer_shape)):
            raise ConfigFieldError(owner, "layer_shape",
                                   f"must be a list of positive integers or null, got {_describe(self.layer_shape)}")
        if self.layer_shape is not None:
            self.layer_shape = list(self.layer_shape)
        for name in ("training_data", "training", "metrics"):
            _check_optional(owner, name, getattr(self, name), dict, "an object")
        if not isinstance(self.extra, dict):
            raise ConfigFieldError(owner, "extra", f"must be a dict, got {_describe(self.extra)}")

    def _check_k(self, owner: str) -> None:
        self.k = check_int(owner, "k", self.k, 1, self.d_sae, "d_sae")

    # ----------------------------------------------------------------- dict form
    def to_dict(self) -> dict:
        """The ``cfg.json`` content: core fields, the records that are set, unknown keys, format version."""
        out: dict = {"architecture": self.architecture, "d_in": self.d_in, "d_sae": self.d_sae, "k": self.k,
                     "input_scale": self.input_scale, "threshold": self.threshold}
        for name in ("model", "layer", "layer_shape", "training_data", "training", "metrics"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        out.update(self.extra)
        out["format_version"] = FORMAT_VERSION
        return out

    @staticmethod
    def create(architecture: str, **values: Any) -> SAEConfig:
        """The config class for ``architecture`` built from keyword fields (unknown ones go to ``extra``)."""
        return SAEConfig.from_dict({**values, "architecture": architecture})

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> SAEConfig:
        """Build the right subclass from a ``cfg.json`` dict; bad shape or types raise InputError."""
        if not isinstance(data, Mapping):
            raise InputError(f"an SAE config must be a JSON object, got {type(data).__name__}")
        arch = data.get("architecture")
        if arch is None:
            raise InputError(f"SAE config has no 'architecture' (one of {', '.join(ARCHITECTURES)})")
        if not isinstance(arch, str):
            raise ConfigFieldError("SAEConfig", "architecture", f"must be a string, got {_describe(arch)}")
        if arch not in CONFIG_CLASSES:
            raise unknown("SAE architecture", arch, ARCHITECTURES)
        cls = CONFIG_CLASSES[arch]
        version = data.get("format_version", FORMAT_VERSION)
        if isinstance(version, bool) or not isinstance(version, int) or version > FORMAT_VERSION:
            raise ConfigFieldError(cls.__name__, "format_version", f"is {version!r}: this file needs a newer "
                                   f"visioncircuits (this one reads {FORMAT_VERSION})")
        names = {f.name for f in fields(cls)} - {"extra"}
        for required in ("d_in", "d_sae"):
            if required not in data:
                raise InputError(f"SAE config has no '{required}' ({cls.__name__} needs d_in and d_sae)")
        known = {key: value for key, value in data.items() if key in names}
        skip = names | {"architecture", "format_version"}
        extra = {key: value for key, value in data.items() if key not in skip}
        known = cls._legacy(known)
        return cls(**known, extra=extra)

    @classmethod
    def _legacy(cls, values: dict) -> dict:
        """Adjust values older files may hold (hook for subclasses)."""
        return values

    def update(self, values: Optional[Mapping[str, Any]] = None, **more: Any) -> SAEConfig:
        """Set fields (unknown keys go to ``extra``), then validate again; returns self."""
        names = {f.name for f in fields(self)} - {"extra"}
        for key, value in {**(values or {}), **more}.items():
            if key == "architecture":
                if value != self.architecture:
                    raise ConfigFieldError(type(self).__name__, "architecture",
                                           f"is fixed to '{self.architecture}', got {value!r}")
            elif key == "format_version":
                continue
            elif key in names:
                setattr(self, key, value)
            else:
                self.extra[key] = value
        self.validate()
        return self

    # dict-style reads, for code written against the plain-dict cfg
    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_dict().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.to_dict()

    def keys(self) -> Iterator[str]:
        return iter(self.to_dict())

    # ----------------------------------------------------------------- files
    def save(self, sae_dir: Union[str, os.PathLike]) -> Path:
        """Write ``SAE_DIR/cfg.json`` atomically; returns its path."""
        from visioncircuits.atomic import write_json

        return write_json(Path(sae_dir) / CONFIG_FILE, self.to_dict())

    @staticmethod
    def load(sae_dir: Union[str, os.PathLike]) -> SAEConfig:
        """Read ``SAE_DIR/cfg.json`` (see :func:`read_config`)."""
        return read_config(sae_dir)


@dataclass
class TopKSAEConfig(SAEConfig):
    """TopK (Gao et al. 2024): each sample keeps its ``k`` largest pre-activations (after ReLU)."""

    architecture: ClassVar[str] = "topk"


@dataclass
class BatchTopKSAEConfig(SAEConfig):
    """BatchTopK (Bussmann et al. 2024): ``k`` per sample on average while training, ``threshold`` at inference."""

    architecture: ClassVar[str] = "batchtopk"

    def validate(self) -> None:
        super().validate()
        self.threshold = check_float(type(self).__name__, "threshold", self.threshold, nonnegative=True)


@dataclass
class ReLUSAEConfig(SAEConfig):
    """ReLU + L1 penalty: no ``k`` (it must be null)."""

    architecture: ClassVar[str] = "relu"

    def _check_k(self, owner: str) -> None:
        if self.k is not None:
            raise ConfigFieldError(owner, "k", f"must be null (a ReLU SAE has no k), got {_describe(self.k)}")

    @classmethod
    def _legacy(cls, values: dict) -> dict:
        # SparseAutoencoder(..., "relu", k=4) used to store the unused k; such files still load.
        return {**values, "k": None}


CONFIG_CLASSES: dict[str, type[SAEConfig]] = {
    c.architecture: c for c in (TopKSAEConfig, BatchTopKSAEConfig, ReLUSAEConfig)}
ARCHITECTURES = tuple(CONFIG_CLASSES)


def read_config(sae_dir: Union[str, os.PathLike]) -> SAEConfig:
    """The checked :class:`SAEConfig` of an SAE directory: the one reader of ``cfg.json``.

    A missing folder or file, invalid JSON, or valid JSON of the wrong shape or types is one
    :class:`InputError` line that names the file (and the field).
    """
    d = Path(sae_dir)
    if not d.exists():
        raise InputError(f"no SAE at {d}: folder not found")
    if not d.is_dir():
        raise InputError(f"no SAE at {d}: not a folder (expected a folder with {WEIGHTS_FILE} and {CONFIG_FILE})")
    path = d / CONFIG_FILE
    if not path.exists():
        raise InputError(f"no SAE at {d}: {CONFIG_FILE} not found")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"corrupt SAE config {path}: {e}") from None
    try:
        return SAEConfig.from_dict(data)
    except VisionCircuitsError as e:
        raise in_context(e, f"corrupt SAE config {path}") from None
