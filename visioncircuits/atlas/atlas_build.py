"""Build one layer's activation atlas on disk, resumably and shardably.

``SITE/atlas/<layer>/``: ``layout.json`` + ``layout.safetensors`` (the UMAP grid, cell mean
vectors, class attribution and top patches; reused when the settings match),
``cells/cell_<gy>_<gx>.png`` (one render per cell; shard ``K/N`` renders every N-th cell;
a cell PNG on disk is not rendered again while the settings stay the same; new settings
clear the cells) and, once every cell is rendered, ``atlas.png``
(all cells in one image) and ``atlas.json`` (what the page reads).
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Optional

import torch
from safetensors.torch import load_file, save_file

from visioncircuits.atlas import activation_atlas as aa
from visioncircuits.atlas.config import AtlasConfig
from visioncircuits.atlas.photos import photo_class
from visioncircuits.atomic import atomic_write, write_json, write_png
from visioncircuits.data import load_image
from visioncircuits.featvis.dataset_examples import _crop, receptive_field
from visioncircuits.featvis.render import render

log = logging.getLogger(__name__)
TOP_CLASSES = 8


def atlas_key(layer: str, photos: Path, cfg: AtlasConfig, size: int, model=None) -> dict:
    """Everything the layout and the cell renders depend on (model and weights, seeding, settings)."""
    from visioncircuits.featvis.seeding import SEEDING_VERSION
    from visioncircuits.fingerprint import canonical, model_fingerprint

    r = cfg.render
    fp = {} if model is None else {**model_fingerprint(model), "seeding": SEEDING_VERSION,
                                   "lr": r.lr, "param_kwargs": canonical(r.param_kwargs),
                                   "redirect_relu": r.redirect_relu}
    return {**fp, "layer": layer, "photos": str(photos), "n_photos": cfg.n_photos, "size": int(size),
            "positions": cfg.positions, "grid": cfg.grid, "min_count": cfg.min_count, "seed": cfg.seed,
            "patches": cfg.atlas_patches, "layout": cfg.layout, "steps": r.steps, "param": r.param,
            "render_seed": r.seed,
            "transforms": r.transforms if isinstance(r.transforms, str) or r.transforms is None else repr(r.transforms)}


def _read_json(f: Path) -> Optional[dict]:
    try:
        return json.loads(f.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def _layout(model, layer: str, photos: Path, out: Path, cfg: AtlasConfig, size: int, key: dict) -> tuple:
    """(cells, means): from disk if the key matches, else computed and written."""
    rec = _read_json(out / "layout.json")
    if rec and rec.get("key") == key and (out / "layout.safetensors").exists():
        return rec["cells"], load_file(str(out / "layout.safetensors"))["means"]
    for stale in ("cells", "patches"):  # renders of other settings must not be reused
        if (out / stale).is_dir():
            shutil.rmtree(out / stale)
    acts = aa.collect(model, layer, photos, size=size, positions=cfg.positions, limit=cfg.n_photos, seed=cfg.seed)
    xy = aa.layout_2d(acts.vectors, seed=cfg.seed, method=cfg.layout)
    cells = aa.grid_cells(xy, acts.vectors, cfg.grid, cfg.min_count)
    if not cells:
        raise RuntimeError(f"no atlas cell of {layer} holds {cfg.min_count} vectors")
    means = torch.stack([c["mean"] for c in cells])
    attr = aa.class_attribution(model, layer, means, acts.vectors.mean(0), size)
    names = list(model.spec.class_names or [str(i) for i in range(attr.shape[1])])
    crop_px = receptive_field(model, layer, size)
    images: dict = {}
    out_cells = []
    for ci, c in enumerate(cells):
        top = attr[ci].topk(min(TOP_CLASSES, attr.shape[1]))
        patches = []
        for r, m in enumerate(aa.top_members(c, acts.vectors, cfg.atlas_patches)):
            pi, y, x = (int(v) for v in acts.refs[m])
            path = acts.paths[pi]
            if path not in images:
                images[path] = load_image(path, size)
            f = write_png(out / "patches" / f"p_{c['gy']}_{c['gx']}_{r}.png",
                          _crop(images[path], y, x, acts.hw, crop_px).float() / 255)
            patches.append({"png": f.relative_to(out).as_posix(), "photo": Path(path).name,
                            "class": photo_class(path)})
        out_cells.append({"gx": c["gx"], "gy": c["gy"], "count": len(c["members"]), "patches": patches,
                          "classes": [{"i": int(i), "name": names[int(i)], "score": round(float(s), 4)}
                                      for s, i in zip(top.values.tolist(), top.indices.tolist())]})
    atomic_write(out / "layout.safetensors", lambda f: f.write(_st_bytes(means)))
    write_json(out / "layout.json", {"key": key, "cells": out_cells, "n_vectors": int(acts.vectors.shape[0]),
                                     "n_photos": len(acts.paths), "map": list(acts.hw), "crop_px": crop_px})
    return out_cells, means


def _st_bytes(means: torch.Tensor) -> bytes:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".safetensors") as tmp:
        save_file({"means": means.contiguous().float()}, tmp.name)
        return Path(tmp.name).read_bytes()


def cell_png(out: Path, c: dict) -> Path:
    return out / "cells" / f"cell_{c['gy']}_{c['gx']}.png"


def build_layer_atlas(model, layer: str, photos: Path, out: Path, cfg: AtlasConfig, size: int,
                      shard: tuple = (1, 1)) -> dict:
    """Lay out, render this shard's missing cells, and compose the atlas once all are there.

    Returns ``{"rendered": n, "complete": bool, "json": path or None}``.
    """
    key = atlas_key(layer, photos, cfg, size, model)
    done = _read_json(out / "atlas.json")
    if done and done.get("key") == key and (out / "atlas.png").exists():
        return {"rendered": 0, "complete": True, "json": out / "atlas.json"}
    cells, means = _layout(model, layer, photos, out, cfg, size, key)
    k, n = shard
    todo = [i for i in range(len(cells))[k - 1::n] if not cell_png(out, cells[i]).exists()]
    rcfg = cfg.render.replace(size=size)
    bs = int(rcfg.batch_size or 16)
    for s in range(0, len(todo), bs):
        chunk = todo[s:s + bs]
        targets = [aa.DirectionCossim(layer, means[i], name=f"{layer}:cell{cells[i]['gy']},{cells[i]['gx']}")
                   for i in chunk]
        res = render(model, targets, rcfg.replace(batch_size=bs))
        for j, i in enumerate(chunk):
            write_png(cell_png(out, cells[i]), res.images[j])
    if not all(cell_png(out, c).exists() for c in cells):
        return {"rendered": len(todo), "complete": False, "json": None}
    sheet = torch.ones(3, cfg.grid * size, cfg.grid * size)
    for c in cells:
        sheet[:, c["gy"] * size:(c["gy"] + 1) * size, c["gx"] * size:(c["gx"] + 1) * size] = load_image(
            cell_png(out, c), size)
    write_png(out / "atlas.png", sheet)
    lay = _read_json(out / "layout.json") or {}
    classes = sorted({cl["name"] for c in cells for cl in c["classes"][:3]})
    f = write_json(out / "atlas.json", {"key": key, "layer": layer, "grid": cfg.grid, "cell_px": size,
                                        "cells": [{**c, "png": cell_png(out, c).relative_to(out).as_posix()}
                                                  for c in cells],
                                        "classes": classes, "n_vectors": lay.get("n_vectors"),
                                        "n_photos": lay.get("n_photos")})
    return {"rendered": len(todo), "complete": True, "json": f}


def class_filtered_cells(atlas: dict, class_name: str, top: int = 3) -> list:
    """The cells that push ``class_name``: it is among their ``top`` classes with a positive score."""
    return [c for c in atlas["cells"]
            if any(cl["name"] == class_name and cl["score"] > 0 for cl in c["classes"][:top])]
