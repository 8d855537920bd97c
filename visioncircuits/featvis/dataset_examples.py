"""Dataset examples: the images (and image crops) from a folder that most excite each unit.

One streaming pass over the folder computes, for every unit at once: a running top-k of
images by the unit's strongest response (its spatial max, or its value at a fixed
position), the crop around that position sized to the layer's receptive field, and
activation statistics. Units may be channels or SAE latents alike (``unit_map``).
Unreadable files are skipped and counted by :class:`visioncircuits.data.ImageFolder`.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import torch
from tqdm.auto import tqdm

from visioncircuits.data import ImageFolder
from visioncircuits.errors import InputError
from visioncircuits.unit_activations import resolve_unit, unit_map
from visioncircuits.units import Unit

log = logging.getLogger(__name__)
QUANTILES = (0.5, 0.9, 0.99)


@dataclass
class Example:
    """One top image: its path, the unit's value, the map position (y, x) and a uint8 crop."""

    path: str
    value: float
    y: int
    x: int
    crop: Optional[torch.Tensor] = None


@dataclass
class UnitExamples:
    unit: str
    top: list
    stats: dict


@dataclass
class ExamplesResult:
    """Per unit: top examples and stats; plus how many images were read and which were skipped."""

    units: list
    n_images: int
    skipped: list = field(default_factory=list)
    crop_size: int = 0
    size: int = 0

    def by_unit(self) -> dict:
        return {u.unit: u for u in self.units}


def receptive_field(model, layer: str, size: int, probes: int = 8) -> int:
    """Side (pixels) of the input region that can affect the centre position of ``layer``.

    Measured, not derived from kernel sizes: the extent of the non-zero input gradient of
    the centre activation, which works for any architecture. ReLUs that are off for one input
    hide part of the field, so the support is the union over ``probes`` random inputs drawn
    from a fixed seed: the same answer on every call and every device.
    """
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(probes, 3, size, size, generator=gen).to(model.device).requires_grad_(True)
    a = model.run_with_cache(x, [layer], detach=False)[layer]
    if a.dim() == 2:
        return size
    a[:, :, a.shape[2] // 2, a.shape[3] // 2].sum().backward()
    assert x.grad is not None
    nz = (x.grad.abs().sum(dim=(0, 1)) > 0).nonzero()
    if nz.numel() == 0:
        return size
    ext = (nz.max(0).values - nz.min(0).values + 1).max().item()
    return int(min(size, ext))


def _crop(img: torch.Tensor, y: int, x: int, hw: tuple, crop: int) -> torch.Tensor:
    """Crop ``crop`` px around map position (y, x) of an (H, W) map, clamped inside the image."""
    S = img.shape[-1]
    cy = int((y + 0.5) * S / hw[0])
    cx = int((x + 0.5) * S / hw[1])
    top = min(max(0, cy - crop // 2), S - crop)
    left = min(max(0, cx - crop // 2), S - crop)
    return (img[:, top:top + crop, left:left + crop].clamp(0, 1) * 255).round().to(torch.uint8).cpu()


def dataset_examples(model, units: Sequence[Union[str, Unit]], folder: Union[str, os.PathLike], *, k: int = 9,
                     size: Optional[int] = None, batch_size: int = 32, crops: bool = True,
                     crop_size: Optional[int] = None, limit: Optional[int] = None, threshold: float = 0.0,
                     progress: bool = True) -> ExamplesResult:
    """Top-``k`` images per unit from ``folder`` in one pass, with crops and activation stats.

    Stats per unit, over images: ``mean`` (of the spatial-mean activation), ``mean_max``,
    ``q50/q90/q99`` and ``max`` of the per-image maximum, and ``frac_active``: the fraction
    of images where the unit exceeds ``threshold`` somewhere.

    Examples:
        >>> res = dataset_examples(model, ["layer3.2:5", "sae:runs/sae:12"], "images/", k=9)  # doctest: +SKIP
        >>> [e.path for e in res.by_unit()["layer3.2:5"].top][:2]                             # doctest: +SKIP
        ['images/n01440764_0.JPEG', 'images/n02102040_3.JPEG']
    """
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    resolved = [resolve_unit(model, u) for u in units]
    if not resolved:
        raise InputError("no units given")
    if any(u.kind == "logit" for u in resolved):
        raise InputError("dataset examples need layer units, not class logits")
    size = int(size or model.spec.input_size)
    layers = sorted({str(u.layer) for u in resolved}, key=lambda n: model.resolve_layer(n).order)
    data = ImageFolder(folder, size, limit=limit)
    n_units = len(resolved)
    crop_px = {layer: int(crop_size or receptive_field(model, layer, size)) for layer in layers} if crops else {}

    top_v = torch.full((k, n_units), float("-inf"))
    top_img = torch.full((k, n_units), -1, dtype=torch.long)
    top_pos = torch.zeros((k, n_units), dtype=torch.long)
    top_crops: dict = {}  # (image id, unit) -> crop
    per_image_max, per_image_mean = [], []
    paths: list = []
    hw_of: dict = {}
    bar = tqdm(total=len(data), desc=f"dataset examples ({len(data)} images)", unit="img", disable=not progress)
    with torch.no_grad():
        for batch_paths, imgs in data.batches(batch_size):
            imgs = imgs.to(model.device)
            acts = model.run_with_cache(imgs, layers)
            maxes, means, poss = [], [], []
            for u in resolved:
                m = unit_map(u, acts[u.layer])
                hw_of[u] = tuple(m.shape[1:])
                flat = m.flatten(1)
                if u.has_position:
                    assert u.y is not None and u.x is not None
                    pos = torch.full((m.shape[0],), u.y * m.shape[2] + u.x, device=m.device, dtype=torch.long)
                    mx = flat.gather(1, pos[:, None])[:, 0]
                else:
                    mx, pos = flat.max(dim=1)
                maxes.append(mx)
                means.append(flat.mean(dim=1))
                poss.append(pos)
            bmax = torch.stack(maxes, 1).float().cpu()  # (B, U)
            bpos = torch.stack(poss, 1).cpu()
            per_image_max.append(bmax)
            per_image_mean.append(torch.stack(means, 1).float().cpu())
            first = len(paths)
            paths.extend(str(p) for p in batch_paths)
            ids = torch.arange(first, first + len(batch_paths))[:, None].expand_as(bmax)
            cat_v = torch.cat([top_v, bmax])
            new_v, order = cat_v.topk(min(k, cat_v.shape[0]), dim=0)
            top_img = torch.cat([top_img, ids]).gather(0, order)
            top_pos = torch.cat([top_pos, bpos]).gather(0, order)
            top_v = new_v
            if crops:
                entered = (order >= k).nonzero().tolist()  # rows that came from this batch
                for r, ui in entered:
                    img_id = int(top_img[r, ui])
                    u = resolved[ui]
                    h, w = hw_of[u]
                    p = int(top_pos[r, ui])
                    top_crops[(img_id, ui)] = _crop(imgs[img_id - first], p // w, p % w, (h, w), crop_px[u.layer])
                keep = {(int(top_img[r, c]), c) for r in range(top_v.shape[0]) for c in range(n_units)}
                for key in [key for key in top_crops if key not in keep]:
                    del top_crops[key]
            bar.update(len(batch_paths))
    bar.close()
    if not paths:
        raise InputError(f"no readable images in {folder} ({len(data.stats.skipped)} unreadable files skipped)")
    all_max = torch.cat(per_image_max)
    all_mean = torch.cat(per_image_mean)
    qs = torch.quantile(all_max, torch.tensor(QUANTILES), dim=0)
    out = []
    for ui, u in enumerate(resolved):
        h, w = hw_of[u]
        top = []
        for r in range(top_v.shape[0]):
            img_id = int(top_img[r, ui])
            if img_id < 0:
                continue
            p = int(top_pos[r, ui])
            top.append(Example(paths[img_id], float(top_v[r, ui]), p // w, p % w, top_crops.get((img_id, ui))))
        stats = {"mean": float(all_mean[:, ui].mean()), "mean_max": float(all_max[:, ui].mean()),
                 **{f"q{int(q * 100)}": float(qs[i, ui]) for i, q in enumerate(QUANTILES)},
                 "max": float(all_max[:, ui].max()), "frac_active": float((all_max[:, ui] > threshold).float().mean())}
        out.append(UnitExamples(str(u), top, stats))
    if data.stats.skipped:
        log.warning("skipped %d unreadable files in %s", len(data.stats.skipped), folder)
    return ExamplesResult(out, len(paths), list(data.stats.skipped), max(crop_px.values(), default=0), size)
