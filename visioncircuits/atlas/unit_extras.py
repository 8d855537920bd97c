"""What a unit page adds to a gallery card: the activation map over each top example and the
histogram of the unit's per-image peak over all photos.

One pass over the photos per layer serves every unit of that layer that needs it. Results
go next to the gallery's files (``atlas_extra.json`` + ``overlay_<r>.png``), keyed by the
examples they were drawn for, so a re-rendered unit (new examples) gets new overlays and a
finished one costs nothing on a rerun.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from visioncircuits.atomic import write_json, write_png
from visioncircuits.data import ImageFolder
from visioncircuits.unit_activations import resolve_unit, unit_map

log = logging.getLogger(__name__)
BINS = 24


def extra_key(rec: dict, photos: Path, n_photos: Optional[int], size: int) -> dict:
    return {"photos": str(photos), "n_photos": n_photos, "size": int(size), "bins": BINS,
            "unit_fingerprint": rec.get("fingerprint"),  # model, weights and settings of the unit's gallery
            "examples": [e.get("path") for e in rec.get("examples", [])]}


def load_extra(udir: Path, key: dict) -> Optional[dict]:
    f = udir / "atlas_extra.json"
    if not f.exists():
        return None
    try:
        rec = json.loads(f.read_text())
    except (json.JSONDecodeError, OSError):
        return None
    return rec if rec.get("key") == key else None


def overlay(image: torch.Tensor, amap: torch.Tensor, top: float) -> torch.Tensor:
    """The photo darkened where the unit is quiet and tinted red where it fires (0..``top``)."""
    heat = F.interpolate(amap[None, None].float(), size=image.shape[-2:], mode="bilinear", align_corners=False)[0]
    heat = (heat / max(top, 1e-8)).clamp(0, 1)
    red = torch.tensor([1.0, 0.15, 0.1], device=image.device)[:, None, None]
    return (image * (0.25 + 0.75 * heat) * (1 - 0.35 * heat) + red * 0.35 * heat).clamp(0, 1)


def histogram(values: torch.Tensor, bins: int = BINS) -> dict:
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        hi = lo + 1e-6
    counts = torch.histc(values.float(), bins=bins, min=lo, max=hi)
    return {"lo": lo, "hi": hi, "counts": [int(c) for c in counts.tolist()]}


def compute_extras(model, layer: str, todo: Sequence[tuple], photos: Path, n_photos: Optional[int], size: int,
                   batch_size: int = 32) -> int:
    """For ``todo`` = [(address, unit dir, gallery record, key)], write overlays and histograms."""
    if not todo:
        return 0
    units = [resolve_unit(model, addr) for addr, *_ in todo]
    tops = [{e.get("path"): r for r, e in enumerate(rec.get("examples", []))} for _, _, rec, _ in todo]
    peaks: list = [[] for _ in todo]
    maps: list = [{} for _ in todo]  # example rank -> (image, map)
    data = ImageFolder(photos, size, limit=n_photos)
    with torch.no_grad():
        for paths, imgs in data.batches(batch_size):
            imgs = imgs.to(model.device)
            acts = model.run_with_cache(imgs, [layer])[layer]
            for j, u in enumerate(units):
                m = unit_map(u, acts)
                peaks[j].append(m.flatten(1).amax(1).float().cpu())
                for b, p in enumerate(paths):
                    r = tops[j].get(str(p))
                    if r is not None:
                        maps[j][r] = (imgs[b].cpu(), m[b].float().cpu())
    for j, (_addr, udir, _rec, key) in enumerate(todo):
        v = torch.cat(peaks[j])
        top = float(v.max()) if v.numel() else 1.0
        files = {}
        for r, (img, m) in sorted(maps[j].items()):
            files[str(r)] = write_png(udir / f"overlay_{r}.png", overlay(img, m, top)).name
        write_json(udir / "atlas_extra.json", {"key": key, "histogram": histogram(v), "overlays": files,
                                               "n_photos": int(v.numel())})
    return len(todo)
