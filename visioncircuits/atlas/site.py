"""``build_atlas``: the whole site of one model, resumable and shardable like galleries.

Every layer's renders and dataset examples are a gallery folder (``SITE/gallery/<layer>``,
written by :func:`~visioncircuits.featvis.gallery.build_gallery`), so ``visioncircuits
gallery MODEL LAYER --out SITE/gallery/<layer>`` with the same settings fills the same
folder and the atlas reuses it; finished units are skipped on a rerun and ``shard="K/N"``
takes every N-th unit (and every N-th atlas cell). Pages are rebuilt from whatever is
finished on disk, whichever shard ran last, and only link to pages that exist.
``galleries=`` imports finished units from gallery folders elsewhere (their settings are
still checked). Each run records its per-stage wall and CPU seconds in ``SITE/build.json``.
"""
from __future__ import annotations

import json
import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

from visioncircuits.atlas import links
from visioncircuits.atlas.atlas_build import build_layer_atlas
from visioncircuits.atlas.config import AtlasConfig
from visioncircuits.atlas.gallery_import import gallery_layer, import_gallery
from visioncircuits.atlas.neighbours import site_neighbours
from visioncircuits.atlas.photos import is_toy, resolve_photos
from visioncircuits.atlas.unit_extras import compute_extras, extra_key, load_extra
from visioncircuits.atomic import clean_stale_tmp, write_json
from visioncircuits.errors import InputError
from visioncircuits.featvis.gallery import build_gallery, manifest_units, parse_shard
from visioncircuits.fingerprint import digest, model_fingerprint
from visioncircuits.units import parse_range
from visioncircuits.utils import slug

log = logging.getLogger(__name__)


@dataclass
class AtlasResult:
    """Where the site went and what this run did."""

    out_dir: Path
    index: Path
    rendered_units: int = 0
    skipped_units: int = 0
    rendered_cells: int = 0
    unit_pages: int = 0
    atlases: list = field(default_factory=list)
    imported_units: int = 0
    stages: dict = field(default_factory=dict)  # stage -> {"wall_s", "cpu_s"} of this run


@contextmanager
def _stage(res: AtlasResult, name: str):
    """Add this block's wall and CPU (this process, all threads) seconds to ``res.stages[name]``."""
    w0, c0 = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        st = res.stages.setdefault(name, {"wall_s": 0.0, "cpu_s": 0.0})
        st["wall_s"] = round(st["wall_s"] + time.perf_counter() - w0, 2)
        st["cpu_s"] = round(st["cpu_s"] + time.process_time() - c0, 2)


def gallery_dir(site: Path, layer: str) -> Path:
    return site / "gallery" / slug(layer)


def sae_gallery_dir(site: Path, sae_dir: str) -> Path:
    return site / "gallery" / ("sae-" + slug(str(sae_dir), max_len=80))


def site_layers(model, layers: Sequence[str], size: int) -> list:
    """The layers in run order (unknown names are one error with suggestions)."""
    names = list(layers) or list(model.spec.main_layers) or model.layer_names()
    info = model.layer_info(size)
    for n in names:
        model.resolve_layer(n, size)
        if len(info[n].shape) != 3:
            raise InputError(f"layer '{n}' has shape {tuple(info[n].shape)}; atlas layers must be conv maps (C, H, W)")
    return sorted(dict.fromkeys(names), key=lambda n: info[n].order)


def toy_labels(model, layers: Sequence[str], units: dict, site: Path) -> dict:
    """Ground-truth labels of a toy model's units (cached in ``SITE/labels.json``)."""
    from visioncircuits.toyworld.labels import label_units

    f = site / "labels.json"
    cached: dict = json.loads(f.read_text()) if f.exists() else {}
    model_key = digest(model_fingerprint(model))
    if cached.get("_model") != model_key:  # labels of another model or weights are not reused
        cached = {"_model": model_key}
    out, changed = {}, False
    for layer in layers:
        want = [str(i) for i in units[layer]]
        have = cached.get(layer, {})
        if not all(i in have for i in want):
            labs = label_units(model, layer, n=400, units=list(units[layer]))
            have = {**have, **{str(i): lab.describe() for i, lab in zip(units[layer], labs)}}
            cached[layer], changed = have, True
        out[layer] = {int(i): have[i] for i in want}
    if changed:
        write_json(f, cached)
    return out


def build_atlas(model, out: Union[str, os.PathLike], config: Optional[AtlasConfig] = None, *,
                dataset: Union[str, os.PathLike, None] = None, saes: Sequence[str] = (),
                universality: Sequence[Union[str, os.PathLike]] = (), shard: Union[str, tuple, None] = None,
                progress: bool = False, galleries: Sequence[Union[str, os.PathLike]] = ()) -> AtlasResult:
    """Build (or resume) the atlas site of ``model`` in ``out``; returns what this run did.

    ``dataset``: photo folder for dataset examples and activation atlases (toy models
    generate toy images when None). ``saes``: SAE folders on site layers (their latents get
    pages). ``universality``: universality ``report.json`` files (matched units).

    Examples:
        >>> model = load_model("mobilenet-v2")                                         # doctest: +SKIP
        >>> res = build_atlas(model, "site/", AtlasConfig.quick(), dataset="photos/")  # doctest: +SKIP
        >>> res.index                                                                  # doctest: +SKIP
        PosixPath('site/index.html')
    """
    from visioncircuits.atlas.pages import write_site

    cfg = config or AtlasConfig()
    site = Path(out)
    k_shard, n_shard = parse_shard(shard)
    size = int(cfg.render.size or model.spec.input_size)
    rcfg = cfg.render.replace(size=size, progress=progress and cfg.render.progress)
    layers = site_layers(model, cfg.layers, size)
    units = {layer: _units(model, layer, cfg.units_for(layer)) for layer in layers}
    sae_layers = {str(d): links.sae_layer(d) for d in saes}
    for d, layer in sae_layers.items():
        if layer not in layers:
            raise InputError(f"SAE {d} reads layer '{layer}', which is not among the site's layers {layers}")
    atlas_layers = list(layers[-1:] if cfg.atlas_layers is None else cfg.atlas_layers)
    for layer in atlas_layers:
        if layer not in layers:
            raise InputError(f"atlas layer '{layer}' is not among the site's layers {layers}")
    reports = [links.read_universality(p) for p in universality]
    imports = [(g, gallery_layer(g)) for g in galleries]
    for g, prefix in imports:
        if prefix not in layers and prefix not in {f"sae:{d}" for d in sae_layers}:
            raise InputError(f"gallery {g} is of '{prefix}', which is neither a site layer {layers} nor a given SAE")
    photos = resolve_photos(model, site, dataset, cfg.n_photos or 200)
    notes = toy_labels(model, layers, units, site) if is_toy(model) else {}
    res = AtlasResult(site, site / "index.html")
    clean_stale_tmp(site)  # leftovers of writes killed mid-way (galleries clean their own again: cheap)
    w0, c0 = time.perf_counter(), time.process_time()
    sae_info = {}
    for d, layer in sae_layers.items():
        per_unit, per_latent = links.sae_readers(d, units[layer], cfg.sae_latents)
        sae_info[d] = {"layer": layer, "per_unit": per_unit, "per_latent": per_latent}
    for g, prefix in imports:
        if prefix in layers:
            res.imported_units += import_gallery(g, gallery_dir(site, prefix), [f"{prefix}:{i}" for i in units[prefix]])
        else:
            d = prefix[len("sae:"):]
            res.imported_units += import_gallery(g, sae_gallery_dir(site, d),
                                                 [f"{prefix}:{j}" for j in sorted(sae_info[d]["per_latent"])])
    with _stage(res, "renders and dataset examples"):
        for layer in layers:
            g = build_gallery(model, layer, gallery_dir(site, layer), rcfg, units=units[layer], dataset=photos,
                              diverse=cfg.diverse, negative=cfg.negative, k=cfg.k, shard=(k_shard, n_shard),
                              unit_notes=notes.get(layer), write_html=False, max_examples=cfg.n_photos,
                              objective=cfg.objective)
            res.rendered_units += len(g.rendered)
            res.skipped_units += len(g.skipped)
        for d, info in sae_info.items():
            if info["per_latent"]:
                g = build_gallery(model, info["layer"], sae_gallery_dir(site, d), rcfg,
                                  units=sorted(info["per_latent"]), unit_spec=f"sae:{d}", dataset=photos, diverse=0,
                                  negative=False, k=cfg.k, shard=(k_shard, n_shard), write_html=False,
                                  max_examples=cfg.n_photos, objective=cfg.objective)
                res.rendered_units += len(g.rendered)
                res.skipped_units += len(g.skipped)
    folders = [(layer, gallery_dir(site, layer)) for layer in layers]
    folders += [(info["layer"], sae_gallery_dir(site, d)) for d, info in sae_info.items()]
    with _stage(res, "activation overlays and histograms"):
        for layer, folder in folders:
            _extras(model, layer, folder, photos, cfg.n_photos, size)
    with _stage(res, "expanded-weight neighbours"):
        neighbours = site_neighbours(model, layers, units, size, site / "neighbours", cfg.neighbours)
    matches = links.universality_matches(reports, model.spec.name)
    with _stage(res, "activation atlases"):
        for layer in atlas_layers:
            a = build_layer_atlas(model, layer, photos, site / "atlas" / slug(layer), cfg, size, (k_shard, n_shard))
            res.rendered_cells += a["rendered"]
            if a["complete"]:
                res.atlases.append(layer)
    with _stage(res, "pages"):
        res.unit_pages = write_site(site, model, layers, units, notes, neighbours, matches, sae_info, res.atlases,
                                    photos, size)
    res.stages["total"] = {"wall_s": round(time.perf_counter() - w0, 2), "cpu_s": round(time.process_time() - c0, 2)}
    write_json(site / "build.json", {"model": model.spec.name, "layers": layers, "shard": f"{k_shard}/{n_shard}",
                                     "rendered_units": res.rendered_units, "skipped_units": res.skipped_units,
                                     "imported_units": res.imported_units, "rendered_cells": res.rendered_cells,
                                     "unit_pages": res.unit_pages, "stages": res.stages})
    return res


def _units(model, layer: str, spec: str) -> list:
    try:
        units = parse_range(spec, model.channels(layer))
    except InputError as e:
        raise InputError(f"units of {layer}: {e}") from None
    if not units:
        raise InputError(f"no units selected in {layer}")
    return units


def _extras(model, layer: str, folder: Path, photos: Path, n_photos: Optional[int], size: int) -> int:
    todo = []
    for rec in manifest_units(folder):  # units of the current fingerprint only
        udir = folder / "units" / slug(rec["unit"], max_len=120, default="unit")
        key = extra_key(rec, photos, n_photos, size)
        if load_extra(udir, key) is None:
            todo.append((rec["unit"], udir, rec, key))
    return compute_extras(model, layer, todo, photos, n_photos, size)
