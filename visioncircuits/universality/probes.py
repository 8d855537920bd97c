"""Probe images, the activations every model produces on them, and stimulus transfer.

Merged from: ``probes``, ``activations``, ``transfer`` (their old module paths still import).
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from visioncircuits.data import ImageFolder, load_image, none_readable
from visioncircuits.errors import InputError
from visioncircuits.keys import SAELayer, is_sae_layer, model_layer
from visioncircuits.unit_activations import resolve_unit, sae_config, unit_value
from visioncircuits.units import Unit

if TYPE_CHECKING:
    from visioncircuits.hooks import HookedModel

log = logging.getLogger(__name__)


# ------------------------------------------------------------ probes
class ProbeSet:
    """Base: ``batches(bs)`` yields (indices, images in [0, 1]); ``images(idx)`` fetches some."""

    name: str = "probes"
    size: int = 64

    def __len__(self) -> int:
        raise NotImplementedError

    def batches(self, batch_size: int) -> Iterator[tuple[list[int], torch.Tensor]]:
        raise NotImplementedError

    def images(self, indices: Sequence[int]) -> torch.Tensor:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{len(self)} {self.name} images at {self.size}px"

    def n_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)


class TensorProbes(ProbeSet):
    """Probe images already in memory, (N, 3, H, W) in [0, 1] (toy world, tests)."""

    def __init__(self, images: torch.Tensor, name: str = "tensor"):
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
            raise InputError(
                f"probe images must be a (N, 3, H, W) tensor, got {getattr(images, 'shape', type(images))}"
            )
        if images.shape[0] == 0:
            raise InputError("the probe set is empty")
        self._images = images.float()
        self.name = name
        self.size = int(images.shape[-1])

    def __len__(self) -> int:
        return int(self._images.shape[0])

    def batches(self, batch_size: int) -> Iterator[tuple[list[int], torch.Tensor]]:
        for i in range(0, len(self), batch_size):
            idx = list(range(i, min(i + batch_size, len(self))))
            yield idx, self._images[idx[0]: idx[-1] + 1]

    def images(self, indices: Sequence[int]) -> torch.Tensor:
        return self._images[list(indices)]


class FolderProbes(ProbeSet):
    """An image folder read at ``size`` px (short side resized, centre crop). Unreadable files
    are skipped (logged, in ``skipped``); indices always refer to ``paths``, so they stay
    stable across passes."""

    def __init__(self, folder: str | Path, size: int, limit: Optional[int] = None):
        if size < 1:
            raise InputError(f"probe image size must be positive, got {size}")
        folder_set = ImageFolder(folder, size, limit=limit)
        self.folder = Path(folder)
        self.size = int(size)
        self.name = self.folder.name
        self.paths: list[Path] = list(folder_set.paths)
        self.skipped: list[str] = []

    def __len__(self) -> int:
        return len(self.paths)

    def _read(self, i: int) -> Optional[torch.Tensor]:
        try:
            return load_image(self.paths[i], self.size)
        except Exception as e:  # PIL raises many types for broken files
            if str(self.paths[i]) not in self.skipped:
                log.warning("skipping unreadable probe image %s: %s", self.paths[i], e)
                self.skipped.append(str(self.paths[i]))
            return None

    def batches(self, batch_size: int) -> Iterator[tuple[list[int], torch.Tensor]]:
        idx: list[int] = []
        imgs: list[torch.Tensor] = []
        self._yielded = 0
        for i in range(len(self.paths)):
            im = self._read(i)
            if im is None:
                continue
            idx.append(i)
            imgs.append(im)
            if len(imgs) == batch_size:
                self._yielded += len(imgs)
                yield idx, torch.stack(imgs)
                idx, imgs = [], []
        if imgs:
            self._yielded += len(imgs)
            yield idx, torch.stack(imgs)
        if not self._yielded:
            raise none_readable(self.folder, len(self.paths), self.skipped)

    def images(self, indices: Sequence[int]) -> torch.Tensor:
        return torch.stack([load_image(self.paths[i], self.size) for i in indices])

    def label(self, i: int) -> str:
        return self.paths[i].name


# ------------------------------------------------------------ activations
MODES = ("flatten", "pool", "grid")


def UnitRef(layer: str, channel: int) -> Unit:  # noqa: N802 - deprecated class name kept as a factory
    """Deprecated: universality uses :class:`visioncircuits.units.Unit` (``Unit(layer, channel)``)."""
    warnings.warn(
        "UnitRef is deprecated; use visioncircuits.units.Unit(layer, index)", DeprecationWarning, stacklevel=2
    )
    return Unit(layer, int(channel))


def resolve_layers(model: HookedModel, layers: Union[str, Sequence[str], None]) -> list[str]:
    """``None``/"main" -> the model's main layers; "all" -> every hookable layer; else validated
    names. ``"sae:DIR"`` entries stand for that SAE's latents (on the layer it was trained on)."""
    if layers is None or layers == "main" or list(layers) == ["main"]:
        names = list(model.spec.main_layers) or model.layer_names()
    elif layers == "all" or list(layers) == ["all"]:
        names = model.layer_names()
    else:
        names = [layers] if isinstance(layers, str) else list(layers)
    for n in names:
        model.resolve_layer(model_layer(n))  # unknown -> clear error with closest names
    if not names:
        raise InputError(f"no layers selected for {model.spec.name}")
    order = model.layer_info()
    return sorted(dict.fromkeys(names), key=lambda n: order[model_layer(n)].order + (0.5 if is_sae_layer(n) else 0))


def layer_units(model: HookedModel, layers: Sequence[str]) -> list[Unit]:
    """Every unit of ``layers`` in order (channels, or an SAE layer's latents): the unit space
    that matching works in."""
    out: list[Unit] = []
    for layer in layers:
        if is_sae_layer(layer):
            sae = SAELayer.parse(layer)
            d_sae = int(sae_config(sae.sae).get("d_sae", 0))
            out.extend(Unit(sae.layer, j, sae=sae.sae, kind="sae") for j in range(d_sae))
        else:
            out.extend(Unit(layer, c) for c in range(model.channels(layer)))
    return out


unit_refs = layer_units  # the old name


def model_input(model, images: torch.Tensor) -> torch.Tensor:
    """The shared [0, 1] images on the model's device at the model's own input size."""
    images = images.to(model.device, non_blocking=True)
    size = int(model.spec.input_size)
    if images.shape[-1] != size or images.shape[-2] != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True).clamp(
            0, 1
        )
    return images


def reduce_activation(act: torch.Tensor, mode: str, grid: int = 8) -> torch.Tensor:
    """(b, C, H, W) or (b, C) -> (b, C*H*W) for ``flatten``, (b, C) for ``pool``, (b, C, g, g) for ``grid``."""
    if mode not in MODES:
        raise InputError(f"unknown spatial mode '{mode}'; use one of {', '.join(MODES)}")
    act = act.float()
    if act.dim() == 2:
        act = act[:, :, None, None]
    if act.dim() != 4:
        raise InputError(f"expected a (N, C, H, W) or (N, C) activation, got shape {tuple(act.shape)}")
    if mode == "flatten":
        return act.flatten(1)
    if mode == "pool":
        return act.mean(dim=(2, 3))
    h, w = act.shape[-2:]
    if h == grid and w == grid:
        return act
    if h >= grid and w >= grid:
        return F.adaptive_avg_pool2d(act, grid)
    return F.interpolate(act, size=(grid, grid), mode="bilinear", align_corners=False)


def stream_activations(
    models: Mapping[Any, HookedModel],
    layers: Mapping[Any, Sequence[str]],
    batches: Iterable[torch.Tensor],
    mode: Optional[str] = "flatten",
    grid: int = 8,
    progress: bool = True,
    total: Optional[int] = None,
) -> Iterator[dict[Any, dict[str, torch.Tensor]]]:
    """For each batch of [0, 1] images, ``{model_key: {layer: reduced activation}}``.

    ``batches`` yields (b, 3, H, W) tensors (or ``(ids, tensor)`` pairs); ``total`` is the
    number of batches, for the progress bar. ``mode=None`` yields the raw activations (to
    reduce several ways). Nothing is kept between batches.
    """
    if mode is not None and mode not in MODES:
        raise InputError(f"unknown spatial mode '{mode}'; use one of {', '.join(MODES)}")
    for key in models:
        if not layers.get(key):
            raise InputError(f"no layers given for model '{key}'")
    for batch in tqdm(batches, total=total, desc="activations", unit="batch", disable=not progress):
        images = batch[1] if isinstance(batch, (tuple, list)) else batch
        out: dict[Any, dict[str, torch.Tensor]] = {}
        for key, model in models.items():
            acts = model.run_with_cache(model_input(model, images), list(layers[key]))
            out[key] = {
                layer: acts[layer] if mode is None else reduce_activation(acts[layer], mode, grid)
                for layer in layers[key]
            }
        yield out


def unit_maps(acts: Mapping[str, torch.Tensor], layers: Sequence[str]) -> torch.Tensor:
    """Concatenate grid-mode activations of ``layers`` along channels: the model's unit space."""
    return torch.cat([acts[layer] for layer in layers], dim=1)


def collect(
    models: Mapping[str, HookedModel],
    layers: Mapping[str, Sequence[str]],
    batches: Iterable[torch.Tensor],
    mode: str = "flatten",
    grid: int = 8,
    progress: bool = True,
) -> dict[str, dict[str, torch.Tensor]]:
    """All activations in memory (small probe sets and tests only; reports stream)."""
    parts: dict[str, dict[str, list[torch.Tensor]]] = {k: {layer: [] for layer in layers[k]} for k in models}
    for out in stream_activations(models, layers, batches, mode, grid, progress):
        for k, d in out.items():
            for layer, t in d.items():
                parts[k][layer].append(t.cpu())
    return {k: {layer: torch.cat(ts) for layer, ts in d.items()} for k, d in parts.items()}


# ------------------------------------------------------------ transfer
@dataclass
class TransferScore:
    unit_a: str
    unit_b: str
    b_on_vis_a: float  # B's unit b on A's visualisation of a
    b_on_vis_b: float  # B's unit b on its own visualisation
    a_on_vis_b: float
    a_on_vis_a: float
    transfer_ab: Optional[float]  # relative to B's own visualisation (baseline-corrected if given)
    transfer_ba: Optional[float]

    def to_dict(self) -> dict:
        return asdict(self)


def unit_values(model: HookedModel, units: Sequence[Union[str, Unit]], images: torch.Tensor) -> torch.Tensor:
    """``out[i, j]``: unit ``units[j]`` (channel or SAE latent; spatial mean, or its position)
    on image ``i``."""
    if images.dim() != 4 or images.shape[0] == 0:
        raise InputError(f"images must be a non-empty (N, 3, H, W) batch, got {tuple(images.shape)}")
    resolved = [resolve_unit(model, u) for u in units]
    acts = model.run_with_cache(model_input(model, images), resolved)
    return torch.stack([unit_value(u, acts[str(u.layer)]) for u in resolved], dim=1).float().cpu()


def _relative(on_other: float, on_own: float, base: float) -> Optional[float]:
    denom = on_own - base
    if denom <= 1e-8 * max(1.0, abs(on_own)):
        return None  # own visualisation no better than baseline: the ratio means nothing
    return (on_other - base) / denom


def stimulus_transfer(
    model_a,
    model_b,
    pairs: Sequence[tuple[Unit, Unit]],
    vis_a: torch.Tensor,
    vis_b: torch.Tensor,
    baseline_a: Optional[Sequence[float]] = None,
    baseline_b: Optional[Sequence[float]] = None,
) -> list[TransferScore]:
    """Transfer scores for ``pairs``; ``vis_a[i]`` visualises ``pairs[i][0]`` in A, ``vis_b[i]`` ``pairs[i][1]`` in B.

    ``baseline_*[i]``: the unit's mean activation on probe images (0 if not given), so
    ``transfer_ab = (b(vis_a) - base_b) / (b(vis_b) - base_b)``; None where B's own
    visualisation does not beat the baseline.
    """
    n = len(pairs)
    if n == 0:
        return []
    if vis_a.shape[0] != n or vis_b.shape[0] != n:
        raise InputError(
            f"need one visualisation per pair on each side: {n} pairs, {vis_a.shape[0]} and {vis_b.shape[0]} images"
        )
    base_a = list(baseline_a) if baseline_a is not None else [0.0] * n
    base_b = list(baseline_b) if baseline_b is not None else [0.0] * n
    if len(base_a) != n or len(base_b) != n:
        raise InputError("one baseline value per pair is needed")
    ua, ub = [p[0] for p in pairs], [p[1] for p in pairs]
    # each model sees every picture at its own input size (the pictures' sizes may differ)
    a_a, a_b = unit_values(model_a, ua, vis_a), unit_values(model_a, ua, vis_b)  # (n, n)
    b_a, b_b = unit_values(model_b, ub, vis_a), unit_values(model_b, ub, vis_b)
    out = []
    for i in range(n):
        a_on_a, a_on_b = float(a_a[i, i]), float(a_b[i, i])
        b_on_a, b_on_b = float(b_a[i, i]), float(b_b[i, i])
        out.append(
            TransferScore(
                unit_a=str(ua[i]),
                unit_b=str(ub[i]),
                b_on_vis_a=b_on_a,
                b_on_vis_b=b_on_b,
                a_on_vis_b=a_on_b,
                a_on_vis_a=a_on_a,
                transfer_ab=_relative(b_on_a, b_on_b, float(base_b[i])),
                transfer_ba=_relative(a_on_b, a_on_a, float(base_a[i])),
            )
        )
    return out
