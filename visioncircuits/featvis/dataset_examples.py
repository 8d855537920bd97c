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
from pathlib import Path
from typing import Optional, Sequence, Union

import torch
from tqdm.auto import tqdm

from visioncircuits.data import ImageFolder, load_image
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


def check_units(model, units: Sequence[Union[str, Unit]], k: int) -> list:
    """Resolved units for dataset examples (layer units only), or an ``InputError``."""
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    resolved = [resolve_unit(model, u) for u in units]
    if not resolved:
        raise InputError("no units given")
    if any(u.kind == "logit" for u in resolved):
        raise InputError("dataset examples need layer units, not class logits")
    return resolved


@dataclass
class ImageScan:
    """One pass over some images: per image (rows, in path order) and unit (columns) the unit's
    strongest response (``maxes``; its value at the unit's position if it has one), its
    spatial mean and the flat map position of the strongest response.

    The part of dataset examples that runs the model, so shards of images can be scanned on
    different workers and concatenated (:func:`examples_from_scans`).
    """

    paths: list
    maxes: torch.Tensor
    means: torch.Tensor
    pos: torch.Tensor
    hw: list
    skipped: list


def scan_images(model, resolved: Sequence[Unit], paths: Sequence[Union[str, os.PathLike]], size: int,
                batch_size: int = 32, progress: bool = False, folder: Union[str, os.PathLike, None] = None
                ) -> ImageScan:
    """Run ``model`` over ``paths`` in batches and keep every unit's per-image max, mean and argmax."""
    layers = sorted({str(u.layer) for u in resolved}, key=lambda n: model.resolve_layer(n).order)
    paths = [Path(p) for p in paths]
    groups = [ImageFolder(folder or ".", size, paths=paths[s:s + batch_size]) for s in range(0, len(paths), batch_size)]
    maxes_all, means_all, pos_all, read, skipped = [], [], [], [], []
    hw: list = [None] * len(resolved)
    bar = tqdm(total=len(paths), desc=f"dataset examples ({len(paths)} images)", unit="img", disable=not progress)
    with torch.no_grad():
        for group in groups:
            # batches are fixed runs of the path list (an unreadable file shortens its batch), so a
            # shard of whole batches sees exactly the batches of a single pass
            batch = next(group.batches(batch_size), None)
            skipped.extend(group.stats.skipped)
            bar.update(len(group))
            if batch is None:
                continue
            batch_paths, imgs = batch
            acts = model.run_with_cache(imgs.to(model.device), layers)
            maxes, means, poss = [], [], []
            for ui, u in enumerate(resolved):
                m = unit_map(u, acts[u.layer])
                hw[ui] = tuple(m.shape[1:])
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
            maxes_all.append(torch.stack(maxes, 1).float().cpu())  # (B, U)
            means_all.append(torch.stack(means, 1).float().cpu())
            pos_all.append(torch.stack(poss, 1).cpu())
            read.extend(str(p) for p in batch_paths)
    bar.close()
    n_units = len(resolved)
    empty = torch.zeros((0, n_units))
    return ImageScan(read, torch.cat(maxes_all) if maxes_all else empty, torch.cat(means_all) if means_all else empty,
                     torch.cat(pos_all) if pos_all else empty.long(), hw, skipped)


def examples_from_scans(model, resolved: Sequence[Unit], scans: Sequence[ImageScan], *, k: int, size: int,
                        crops: bool = True, crop_size: Optional[int] = None, threshold: float = 0.0,
                        folder: Union[str, os.PathLike, None] = None) -> ExamplesResult:
    """Top-``k`` images, crops and stats per unit from scans of consecutive image runs.

    The ranking is a stable sort of each unit's per-image values (ties keep path order), so the
    result depends on the images and values only, never on how the images were batched or sharded.
    Crops are cut from the top images, loaded again.
    """
    paths = [p for s in scans for p in s.paths]
    skipped = [p for s in scans for p in s.skipped]
    if not paths:
        raise InputError(f"no readable images in {folder} ({len(skipped)} unreadable files skipped)")
    hw = next(s.hw for s in scans if s.paths)
    all_max = torch.cat([s.maxes for s in scans])
    all_mean = torch.cat([s.means for s in scans])
    all_pos = torch.cat([s.pos for s in scans])
    layers = sorted({str(u.layer) for u in resolved}, key=lambda n: model.resolve_layer(n).order)
    crop_px = {layer: int(crop_size or receptive_field(model, layer, size)) for layer in layers} if crops else {}
    top = torch.sort(all_max, dim=0, descending=True, stable=True).indices[:k]  # (k', U) image ids
    want: dict = {}  # image id -> [(unit, rank)]
    if crops:
        for ui in range(len(resolved)):
            for r in range(top.shape[0]):
                want.setdefault(int(top[r, ui]), []).append((ui, r))
    cut: dict = {}
    for img_id in sorted(want):
        img = load_image(paths[img_id], size)
        for ui, r in want[img_id]:
            h, w = hw[ui]
            p = int(all_pos[img_id, ui])
            cut[(ui, r)] = _crop(img, p // w, p % w, (h, w), crop_px[str(resolved[ui].layer)])
    qs = torch.quantile(all_max, torch.tensor(QUANTILES), dim=0)
    out = []
    for ui, u in enumerate(resolved):
        h, w = hw[ui]
        ranked = []
        for r in range(top.shape[0]):
            img_id = int(top[r, ui])
            p = int(all_pos[img_id, ui])
            ranked.append(Example(paths[img_id], float(all_max[img_id, ui]), p // w, p % w, cut.get((ui, r))))
        stats = {"mean": float(all_mean[:, ui].mean()), "mean_max": float(all_max[:, ui].mean()),
                 **{f"q{int(q * 100)}": float(qs[i, ui]) for i, q in enumerate(QUANTILES)},
                 "max": float(all_max[:, ui].max()), "frac_active": float((all_max[:, ui] > threshold).float().mean())}
        out.append(UnitExamples(str(u), ranked, stats))
    if skipped:
        log.warning("skipped %d unreadable files in %s", len(skipped), folder)
    return ExamplesResult(out, len(paths), skipped, max(crop_px.values(), default=0), size)


def dataset_examples(model, units: Sequence[Union[str, Unit]], folder: Union[str, os.PathLike], *, k: int = 9,
                     size: Optional[int] = None, batch_size: int = 32, crops: bool = True,
                     crop_size: Optional[int] = None, limit: Optional[int] = None, threshold: float = 0.0,
                     progress: bool = True) -> ExamplesResult:
    """Top-``k`` images per unit from ``folder`` in one pass, with crops and activation stats.

    Stats per unit, over images: ``mean`` (of the spatial-mean activation), ``mean_max``,
    ``q50/q90/q99`` and ``max`` of the per-image maximum, and ``frac_active``: the fraction
    of images where the unit exceeds ``threshold`` somewhere. The pass is
    :func:`scan_images` then :func:`examples_from_scans`; the Ray backend runs the scan on
    shards of images (``visioncircuits.distributed.examples``) and gets the same result.

    Examples:
        >>> res = dataset_examples(model, ["layer3.2:5", "sae:runs/sae:12"], "images/", k=9)  # doctest: +SKIP
        >>> [e.path for e in res.by_unit()["layer3.2:5"].top][:2]                             # doctest: +SKIP
        ['images/n01440764_0.JPEG', 'images/n02102040_3.JPEG']
    """
    resolved = check_units(model, units, k)
    size = int(size or model.spec.input_size)
    paths = ImageFolder(folder, size, limit=limit).paths
    scan = scan_images(model, resolved, paths, size, batch_size, progress, folder)
    return examples_from_scans(model, resolved, [scan], k=k, size=size, crops=crops, crop_size=crop_size,
                               threshold=threshold, folder=folder)
