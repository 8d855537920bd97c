"""``torchvision:<name>`` and ``timm:<name>``: any classification model of either library.

Why adapters rather than a list: researchers bring whatever model they study. The spec is
derived from the library's own metadata (weights URL and hash, mean/std, input size, class
names), so ``load_model("torchvision:resnet50")`` preprocesses exactly as torchvision does
and loads its published file through our safe, offline-aware path.

- torchvision: weights come from the ``DEFAULT`` weights' URL via the torch.hub cache
  (``$TORCH_HOME/hub/checkpoints``), checked against the hash prefix in the file name, and
  read with ``weights_only=True`` (torchvision's own loader would unpickle freely).
- timm: weights come through timm's own pretrained loader (Hugging Face hub cache, safetensors
  where published); offline with no cached file gives a clear error naming the hub id.
"""
from __future__ import annotations

import logging
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn

from visioncircuits.errors import WeightsError, unknown
from visioncircuits.utils import first_line
from visioncircuits.zoo.registry import register_prefix
from visioncircuits.zoo.spec import IMAGENET_MEAN, IMAGENET_STD, ModelSpec

log = logging.getLogger(__name__)

_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")  # torch.hub's convention: name-<sha256 prefix>.pth
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_HEADS = ("classifier", "head", "fc", "heads")

TORCHVISION_POPULAR = ["googlenet", "resnet50", "vgg16", "alexnet", "resnet18", "inception_v3", "convnext_tiny"]
TIMM_POPULAR = ["resnet50", "vit_base_patch16_224", "convnext_tiny", "efficientnet_b0", "resnet18"]
# Architectures whose published weights were trained with extra heads / input transform.
_TV_ARCH_KWARGS = {
    "googlenet": dict(transform_input=True, aux_logits=False, init_weights=False),
    "inception_v3": dict(transform_input=True, aux_logits=False, init_weights=False),
}
_TV_DROP_PREFIXES = ("aux1.", "aux2.", "AuxLogits.")


def _on_meta(build: Callable[[], nn.Module]) -> nn.Module:
    """Build a network without allocating weights, to read its structure cheaply."""
    try:
        with torch.device("meta"):
            return build()
    except Exception:  # some constructors do real tensor work; fall back to CPU
        log.debug("meta-device build failed; building on CPU", exc_info=True)
        return build()


def _generic_main_layers(net: nn.Module) -> tuple[str, ...]:
    """The children of the longest top-level container (``features``, ``blocks``,
    ``trunk_output``), else of the longest one a level down (``encoder.layers``), else the
    top-level children."""
    top = [(n, m) for n, m in net.named_children() if not n.startswith(_HEADS)]
    stages = [n for n, _ in top if re.fullmatch(r"(layer|stage|block)_?\d+", n)]
    if len(stages) >= 3:
        return tuple(stages)
    second = [(f"{n}.{c}", s) for n, m in top for c, s in m.named_children()]
    for level in (top, second):
        boxes = [(n, m) for n, m in level if isinstance(m, _CONTAINERS) and len(m) >= 3]
        if boxes:
            name, box = max(boxes, key=lambda nm: len(nm[1]))
            return tuple(f"{name}.{c}" for c, _ in box.named_children())
    return tuple(n for n, _ in net.named_children())


def torchvision_main_layers(name: str, net: nn.Module) -> tuple[str, ...]:
    """Sensible default layers per torchvision family (stages, ReLUs, inception blocks)."""
    children = [n for n, _ in net.named_children()]
    if name.startswith(("resnet", "resnext", "wide_resnet")):
        return tuple(n for n in children if re.fullmatch(r"layer\d", n))
    if name.startswith(("vgg", "alexnet")):
        return tuple(f"features.{n}" for n, m in net.features.named_children() if isinstance(m, nn.ReLU))  # pyright: ignore[reportAttributeAccessIssue]
    if name == "googlenet":
        return tuple(n for n in children if n.startswith("inception"))
    if name == "inception_v3":
        return tuple(n for n in children if n.startswith("Mixed_"))
    if name.startswith("densenet"):
        return tuple(f"features.{n}" for n, _ in net.features.named_children() if n.startswith("denseblock"))  # pyright: ignore[reportAttributeAccessIssue]
    return _generic_main_layers(net)


# ------------------------------------------------------------------ torchvision
def _tv_names() -> list[str]:
    import torchvision.models as tvm

    return tvm.list_models(module=tvm)


def _tv_examples() -> list[str]:
    names = _tv_names()
    return [n for n in TORCHVISION_POPULAR if n in names] + [n for n in names if n not in TORCHVISION_POPULAR]


def _drop_aux(state: dict) -> dict:
    """Published googlenet / inception_v3 files carry training-only auxiliary heads."""
    return {k: v for k, v in state.items() if not k.startswith(_TV_DROP_PREFIXES)}


@lru_cache(maxsize=64)
def torchvision_spec(name: str) -> ModelSpec:
    """Spec for ``torchvision:<name>`` (classification models of ``torchvision.models``)."""
    import torchvision.models as tvm

    names = _tv_names()
    if name not in names:
        raise unknown("torchvision classification model", f"torchvision:{name}", [f"torchvision:{n}" for n in names])
    builder = tvm.get_model_builder(name)
    kwargs = _TV_ARCH_KWARGS.get(name, {})
    build = lambda: builder(weights=None, **kwargs)  # noqa: E731
    url = filename = sha = None
    mean, std, size, classes = IMAGENET_MEAN, IMAGENET_STD, 224, None
    extra: dict = {}
    try:
        weights = tvm.get_model_weights(name).DEFAULT  # pyright: ignore[reportAttributeAccessIssue]
    except (ValueError, KeyError, AttributeError):
        weights = None
    if weights is not None:
        url = weights.url
        filename = Path(url).name
        m = _HASH_IN_NAME.search(filename)
        sha = m.group(1) if m else None
        t = weights.transforms()
        mean, std = tuple(t.mean), tuple(t.std)
        size = int(t.crop_size[0])
        classes = tuple(weights.meta.get("categories") or ()) or None
        extra = {"resize_size": list(t.resize_size), "weights_enum": str(weights), "recipe": weights.meta.get("recipe")}
    net = _on_meta(build)
    return ModelSpec(
        name=f"torchvision:{name}",
        family="torchvision",
        description=f"torchvision {name} ({weights if weights is not None else 'no published weights'})",
        build=build,
        input_size=size,
        mean=mean,
        std=std,
        num_classes=len(classes) if classes else 1000,
        class_names=classes,
        url=url,
        filename=filename,
        sha256=sha,
        main_layers=torchvision_main_layers(name, net),
        card="models/torchvision-timm.md",
        convert_state_dict=_drop_aux if name in _TV_ARCH_KWARGS else None,
        extra=extra,
    )


# ------------------------------------------------------------------ timm
def _timm_examples() -> list[str]:
    import timm

    names = timm.list_models()
    return [n for n in TIMM_POPULAR if n in names] + [n for n in names if n not in TIMM_POPULAR]


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache timm downloads into (``HF_HUB_CACHE``, else ``HF_HOME/hub``)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _hf_cached(repo_id: str, cache: Path) -> bool:
    from huggingface_hub import try_to_load_from_cache

    repo, _, revision = repo_id.partition("@")
    for fname in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
        hit = try_to_load_from_cache(repo, fname, cache_dir=str(cache), revision=revision or None)
        if isinstance(hit, str):
            return True
    return False


def _timm_weights_error(name: str, cfg: dict, cache: Path, why: str) -> WeightsError:
    where = f"Hugging Face hub id {cfg['hf_hub_id']}" if cfg.get("hf_hub_id") else f"URL {cfg.get('url')}"
    return WeightsError(
        f"no weights for timm:{name}: could not load {where} ({why}); "
        f"timm caches them under {cache} (set HF_HUB_CACHE to move it); "
        f"or pass weights=PATH (.safetensors/.pth), or weights='random'"
    )


def _timm_loader(name: str) -> Callable[[nn.Module], nn.Module]:
    def load(net: nn.Module) -> nn.Module:
        from timm.models import load_pretrained

        cfg = dict(getattr(net, "pretrained_cfg", {}) or {})
        cache = hf_cache_dir()
        if not (cfg.get("hf_hub_id") or cfg.get("url") or cfg.get("file")):
            raise WeightsError(f"timm:{name} has no published weights; pass weights=PATH or weights='random'")
        offline = os.environ.get("VISIONCIRCUITS_OFFLINE", "") not in ("", "0")
        if offline and cfg.get("hf_hub_id") and not _hf_cached(cfg["hf_hub_id"], cache):
            raise _timm_weights_error(name, cfg, cache, "VISIONCIRCUITS_OFFLINE is set and it is not cached")
        try:
            load_pretrained(net, pretrained_cfg=cfg, num_classes=cfg.get("num_classes", 1000), cache_dir=str(cache))
        except WeightsError:
            raise
        except Exception as e:  # network, hub and format errors come in many types
            msg = first_line(e, 160)
            raise _timm_weights_error(name, cfg, cache, f"{type(e).__name__}: {msg}") from None
        return net

    return load


def _timm_class_names(cfg: dict) -> Optional[tuple]:
    try:
        from timm.data import ImageNetInfo, infer_imagenet_subset  # pyright: ignore[reportPrivateImportUsage]

        subset = infer_imagenet_subset(cfg)
        if not subset:
            return None
        return tuple(d.split(",")[0].strip() for d in ImageNetInfo(subset).label_descriptions())
    except Exception:  # class names are a convenience; never fail a load for them
        return None


@lru_cache(maxsize=64)
def timm_spec(name: str) -> ModelSpec:
    """Spec for ``timm:<name>`` (an architecture, optionally with a ``.tag``)."""
    import timm

    if not timm.is_model(name):
        raise unknown("timm model", f"timm:{name}", [f"timm:{n}" for n in timm.list_models()])
    build = lambda: timm.create_model(name, pretrained=False)  # noqa: E731
    net = _on_meta(build)
    cfg = dict(getattr(net, "pretrained_cfg", {}) or {})
    feature_info = getattr(net, "feature_info", None) or []
    main = tuple(f["module"] for f in feature_info if isinstance(f, dict) and f.get("module")) or _generic_main_layers(
        net
    )
    size = int((cfg.get("input_size") or (3, 224, 224))[-1])
    classes = _timm_class_names(cfg)
    return ModelSpec(
        name=f"timm:{name}",
        family="timm",
        description=f"timm {name} ({cfg.get('hf_hub_id') or cfg.get('url') or 'no published weights'})",
        build=build,
        input_size=size,
        mean=tuple(cfg.get("mean") or IMAGENET_MEAN),
        std=tuple(cfg.get("std") or IMAGENET_STD),
        num_classes=int(getattr(net, "num_classes", 0) or cfg.get("num_classes") or 1000),
        class_names=classes,
        url=None,
        filename=None,
        main_layers=main,
        card="models/torchvision-timm.md",
        load_pretrained=_timm_loader(name),
        extra={
            "hf_hub_id": cfg.get("hf_hub_id"),
            "interpolation": cfg.get("interpolation"),
            "crop_pct": cfg.get("crop_pct"),
            "license": cfg.get("license"),
        },
    )


register_prefix(
    "torchvision",
    torchvision_spec,
    _tv_examples,
    "any torchvision classification model, its DEFAULT weights via the torch.hub cache",
)
register_prefix(
    "timm", timm_spec, _timm_examples, "any timm model, pretrained weights via timm's Hugging Face hub cache"
)
