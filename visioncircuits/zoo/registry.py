"""The model registry: ``register`` a spec, ``load_model(name, weights)`` a hooked model.

Fixed names (``inceptionv1``, ``cifar10-resnet20``, toy models) are registered by their
family modules at import; ``torchvision:<name>`` and ``timm:<name>`` are resolved on demand
by prefix resolvers.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Callable, Optional, Union

import torch

from visioncircuits.device import pick_device
from visioncircuits.errors import InputError, WeightsError, unknown
from visioncircuits.hooks import HookedModel
from visioncircuits.zoo.spec import ModelSpec
from visioncircuits.zoo.weights import fetch_published, load_into, read_state_dict

log = logging.getLogger(__name__)

_SPECS: dict[str, ModelSpec] = {}
_PREFIXES: dict[str, tuple[Callable[[str], ModelSpec], Callable[[], list[str]], str]] = {}
_FAMILIES_LOADED = False

WeightsArg = Union[None, str, os.PathLike]


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model spec to the registry (later registrations of a name replace earlier ones)."""
    _SPECS[spec.name] = spec
    return spec


def register_prefix(
    prefix: str, resolve: Callable[[str], ModelSpec], examples: Callable[[], list[str]], description: str
) -> None:
    """Resolve ``prefix:<name>`` on demand (torchvision:, timm:)."""
    _PREFIXES[prefix] = (resolve, examples, description)


def _ensure_families() -> None:
    global _FAMILIES_LOADED
    if _FAMILIES_LOADED:
        return
    _FAMILIES_LOADED = True
    import importlib

    for mod in ("cifar_resnet", "inceptionv1", "mobilenet", "adapters", "toy"):
        try:
            importlib.import_module(f"visioncircuits.zoo.{mod}")
        except ModuleNotFoundError as e:
            if e.name != f"visioncircuits.zoo.{mod}":
                raise


def list_models() -> list[ModelSpec]:
    """Registered specs (fixed names only), sorted by family then name."""
    _ensure_families()
    natural = lambda name: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]  # noqa: E731
    return sorted(_SPECS.values(), key=lambda s: (s.family, natural(s.name)))


def list_prefixes() -> list[tuple[str, str, list[str]]]:
    _ensure_families()
    return [(p, d, ex()) for p, (_, ex, d) in sorted(_PREFIXES.items())]


def get_spec(name: str) -> ModelSpec:
    """The spec of ``name``; unknown names fail with the closest registered names."""
    _ensure_families()
    if name in _SPECS:
        return _SPECS[name]
    if ":" in name:
        prefix, sub = name.split(":", 1)
        if prefix in _PREFIXES:
            return _PREFIXES[prefix][0](sub)
    choices = list(_SPECS) + [f"{p}:{e}" for p, (_, ex, _) in _PREFIXES.items() for e in ex()]
    raise unknown("model", name, choices)


def load_model(name: str, weights: WeightsArg = None, device: Optional[Union[str, torch.device]] = None) -> HookedModel:
    """Build ``name`` and load its weights; returns an eval-mode :class:`HookedModel`.

    ``weights``: a local file (.pth/.pt/.th/.bin or .safetensors), ``"random"`` for an
    untrained network (seeded, reproducible), or None for the published weights (the
    project's own file for toy models; the torch.hub cache, then the official URL with hash
    check, otherwise).

    Examples:
        >>> model = load_model("cifar10-resnet20", weights="random")
        >>> model.spec.input_size, model.spec.num_classes, model.layer_names()[:2]
        (32, 10, ['conv1', 'bn1'])
    """
    spec = get_spec(name)
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise InputError(f"weights must be a file path, 'random' or None, got {type(weights).__name__}")
    dev = pick_device(device) if device is not None else None  # a bad device fails before any work
    source: Optional[str] = None
    if weights == "random":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            net = spec.build()
        source = "random"
    else:
        net = spec.build()
        if weights is not None:
            if not Path(weights).exists() and not Path(weights).suffix:
                raise WeightsError(
                    f"weights file not found: {weights} "
                    "(pass a file path, 'random' for untrained weights, or nothing for the published ones)"
                )
            state = read_state_dict(weights)
            source = str(weights)
        elif spec.default_weights:
            state = read_state_dict(spec.default_weights)
            source = spec.default_weights
        elif spec.load_pretrained is not None:
            net = spec.load_pretrained(net)
            state, source = None, "pretrained"
        elif spec.url:
            path = fetch_published(spec.url, spec.filename or Path(spec.url).name, spec.sha256, spec.name)
            state, source = read_state_dict(path), str(path)
        else:
            raise WeightsError(f"{spec.name} has no published weights; pass weights=PATH or weights='random'")
        if state is not None:
            if spec.convert_state_dict is not None:
                state = spec.convert_state_dict(state)
            load_into(net, state, source)
    model = HookedModel(net, spec, spec.preprocess()).eval()
    model.weights_source = source  # fingerprints hash this file (visioncircuits.fingerprint)
    if dev is not None:
        model = model.to(dev)
    return model
