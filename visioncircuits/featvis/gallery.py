"""Layer galleries: for each unit, its visualisation (plus a diverse set and the negative),
top dataset examples and activation stats, as PNGs, a ``gallery.json`` manifest and an
offline ``index.html``.

Built for long runs over whole models: every unit's files are written atomically and its
``unit.json`` last, so a unit counts as finished only when all of it is on disk; re-running
skips finished units (with the same settings) and ``shard=(k, n)`` takes every n-th unit,
so any scheduler can spread a layer over machines that share the output folder. The
manifest and page are rebuilt from all finished units on disk, whichever shard ran last.

A unit counts as finished only if its ``unit.json`` carries this run's fingerprint digest
(:func:`gallery_fingerprint`: model name, weights digest, SAE files, every render and example
setting, seeding-scheme and package version). A unit of another fingerprint is re-rendered
(its folder cleared first) and left out of the manifest until then, so a manifest never names
one model over another model's images.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

from visioncircuits.atomic import clean_stale_tmp, is_stale_tmp, write_json, write_png
from visioncircuits.device import numeric_mode
from visioncircuits.errors import InputError
from visioncircuits.featvis.config import RenderConfig
from visioncircuits.featvis.dataset_examples import ExamplesResult, dataset_examples
from visioncircuits.featvis.quality import MEASURE, render_target, unit_peaks
from visioncircuits.featvis.render import auto_batch_size, redirect_steps, render, render_diverse
from visioncircuits.featvis.seeding import SEEDING_VERSION
from visioncircuits.fingerprint import (
    canonical,
    digest,
    folder_fingerprint,
    model_fingerprint,
    package_version,
    sae_fingerprint,
)
from visioncircuits.hooks import HookedModel
from visioncircuits.keys import SAELayer, is_sae_layer
from visioncircuits.unit_activations import sae_config
from visioncircuits.units import parse_range
from visioncircuits.utils import slug

log = logging.getLogger(__name__)


@dataclass
class GalleryResult:
    """Where the gallery went and what this run did (``rendered`` + ``skipped`` = this shard's units)."""

    out_dir: Path
    manifest: Path
    index: Optional[Path]
    rendered: list
    skipped: list
    total_finished: int


def parse_shard(text: Union[str, tuple, None]) -> tuple:
    """``"K/N"`` (K in 1..N) -> (K, N); None -> (1, 1)."""
    if text is None:
        return (1, 1)
    if isinstance(text, tuple):
        k, n = text
    else:
        try:
            k, n = (int(v) for v in str(text).split("/"))
        except ValueError:
            raise InputError(f"cannot parse shard '{text}'; use K/N, e.g. 2/8 (shards are numbered 1..N)") from None
    if not (n >= 1 and 1 <= k <= n):
        raise InputError(f"bad shard {k}/{n}: need 1 <= K <= N (shards are numbered 1..N)")
    return (int(k), int(n))


def unit_prefix_and_count(model: HookedModel, layer: str, unit_spec: Optional[str] = None) -> tuple:
    """(address prefix, number of units): ``layer`` -> channels; ``sae:DIR`` -> SAE latents."""
    spec = unit_spec or layer
    if is_sae_layer(spec):
        sae_layer = SAELayer.parse(spec)
        cfg = sae_config(sae_layer.sae)
        model.resolve_layer(str(cfg.get("layer")))
        return spec, int(cfg.get("d_sae", 0))
    return spec, model.channels(spec)


def _slug(text: str) -> str:
    return slug(text, max_len=120, default="unit")


def build_gallery(
    model: HookedModel,
    layer: str,
    out_dir: Union[str, os.PathLike],
    config: Optional[RenderConfig] = None,
    *,
    units: Union[str, Sequence[int], None] = None,
    unit_spec: Optional[str] = None,
    dataset: Union[str, os.PathLike, None] = None,
    diverse: int = 0,
    diversity_weight: float = 1.0,
    negative: bool = False,
    k: int = 9,
    shard: Union[str, tuple, None] = None,
    unit_notes: Optional[dict] = None,
    embed_images: bool = True,
    write_html: bool = True,
    max_examples: Optional[int] = None,
    objective: str = "channel",
    precomputed: Optional[ExamplesResult] = None,
    **render_kwargs,
) -> GalleryResult:
    """Render a gallery of ``layer``'s units (or the SAE latents of ``unit_spec="sae:DIR"``).

    Rendering settings come from ``config`` (:class:`RenderConfig`), overridden by keyword
    arguments named like its fields (``steps=``, ``seed=`` ...). ``units``: indices or a range
    string (``"0:64"``), default all. ``unit_notes`` maps unit index -> text shown on its card
    (e.g. ground-truth labels). ``dataset``: an image folder for top examples and stats
    (``max_examples`` caps how many images are read). Resumable: finished units with the same
    settings are skipped; ``shard="K/N"`` does every N-th unit.
    ``objective``: what the rendering maximises, ``"channel"`` (spatial mean) or ``"neuron"``
    (the unit at the centre of its map). Whatever it is, each card compares the rendering and
    the dataset examples on one measure (:data:`~visioncircuits.featvis.quality.MEASURE`,
    the unit's spatial max): ``render_peak`` against ``best_example`` in ``unit.json``.
    ``precomputed``: dataset examples of (at least) the units to render, already computed for
    ``dataset`` with ``k`` and ``max_examples`` (the Ray backend scans image shards once).

    Examples:
        >>> model = load_model("toy-resnet-s0")                                      # doctest: +SKIP
        >>> res = build_gallery(model, "block2.relu2", "out/gallery", RenderConfig(steps=128),
        ...                     units="0:8", dataset="images/")                      # doctest: +SKIP
        >>> res.index                                                               # doctest: +SKIP
        PosixPath('out/gallery/index.html')
    """
    cfg = RenderConfig.resolve(config, **render_kwargs)
    with numeric_mode(cfg.exact):  # examples and peaks too: every number in unit.json
        return _build_gallery(model, layer, Path(out_dir), cfg, units=units, unit_spec=unit_spec, dataset=dataset,
                              diverse=diverse, diversity_weight=diversity_weight, negative=negative, k=k, shard=shard,
                              unit_notes=unit_notes, embed_images=embed_images, write_html=write_html,
                              max_examples=max_examples, objective=objective, precomputed=precomputed)


def _build_gallery(model: HookedModel, layer: str, out: Path, cfg: RenderConfig, *, units, unit_spec, dataset,
                   diverse: int, diversity_weight: float, negative: bool, k: int, shard, unit_notes, embed_images: bool,
                   write_html: bool, max_examples, objective: str, precomputed) -> GalleryResult:
    plan = plan_gallery(model, layer, out, cfg, units=units, unit_spec=unit_spec, dataset=dataset, diverse=diverse,
                        negative=negative, k=k, shard=shard, objective=objective, max_examples=max_examples,
                        diversity_weight=diversity_weight)
    cfg, size, prefix, settings, addresses, todo, done = (plan.config, plan.size, plan.prefix, plan.settings,
                                                          plan.addresses, plan.todo, plan.done)
    fp, key = plan.fingerprint, plan.key
    progress = cfg.progress
    notes = {int(i): str(v) for i, v in (unit_notes or {}).items()}

    examples = {}
    ds_info = None
    if dataset and todo:
        ex = precomputed
        if ex is None:
            ex = dataset_examples(model, [addresses[i] for i in todo], dataset, k=k, size=size, limit=max_examples,
                                  progress=progress, batch_size=examples_batch(cfg))
        examples = ex.by_unit()
        ds_info = {"folder": str(dataset), "n_images": ex.n_images, "skipped": len(ex.skipped)}

    objectives = {i: render_target(model, addresses[i], objective, size) for i in todo}
    bs = 1
    if todo:
        bs = 1 if cfg.exact else int(cfg.batch_size or auto_batch_size(model, objectives[todo[0]].layers, size,
                                                                       cfg.memory_budget_mb))
    per_chunk = max(1, bs // 2) if negative else bs
    for start in range(0, len(todo), per_chunk):
        chunk = todo[start:start + per_chunk]
        targets = [objectives[i] for i in chunk] + ([-objectives[i] for i in chunk] if negative else [])
        res = render(model, targets, cfg.replace(batch_size=bs))
        peaks = unit_peaks(model, [addresses[i] for i in chunk], res.images[:len(chunk)])
        for j, i in enumerate(chunk):
            addr = addresses[i]
            udir = out / "units" / _slug(addr)
            _clear_unit(udir)  # a unit of another fingerprint: none of its files may survive next to ours
            rec = {"unit": addr, "index": i, "note": notes.get(i), "value": res.values[j], "settings": settings,
                   "fingerprint": key, "measure": MEASURE, "render_peak": float(peaks[j, j])}
            rec["vis"] = _rel(write_png(udir / "vis.png", res.images[j]), out)
            if negative:
                m = len(chunk) + j
                rec["negative"] = _rel(write_png(udir / "negative.png", res.images[m]), out)
                rec["negative_value"] = -res.values[m]
            if diverse:
                dv = render_diverse(model, objectives[i], n=diverse, weight=diversity_weight,
                                    config=cfg.replace(progress=False, eval_every=0))
                rec["diverse"] = [_rel(write_png(udir / f"diverse_{d}.png", dv.images[d]), out) for d in range(diverse)]
                rec["diverse_values"] = dv.values
            if addr in examples:
                ue = examples[addr]
                rec["stats"] = ue.stats
                rec["examples"] = [
                    {
                        "path": e.path,
                        "name": Path(e.path).name,
                        "value": e.value,
                        "y": e.y,
                        "x": e.x,
                        "crop": _rel(write_png(udir / f"example_{r}.png", e.crop.float() / 255), out)
                        if e.crop is not None
                        else None,
                    }
                    for r, e in enumerate(ue.top)
                ]
                rec["dataset"] = ds_info
                if ue.top:  # examples are ranked by the same measure (spatial max)
                    rec["best_example"] = float(ue.top[0].value)
                    rec["beats_dataset"] = rec["render_peak"] > rec["best_example"]
            write_json(udir / "unit.json", rec)  # last: marks the unit finished
    result_manifest = write_manifest(out, model, prefix, settings, notes if unit_notes is not None else None,
                                     fingerprint={"key": key, **fp})
    index = None
    if write_html:
        from visioncircuits.featvis.gallery_page import write_gallery_page

        index = write_gallery_page(out, embed_images=embed_images)
    total = len(json.loads(result_manifest.read_text())["units"])
    return GalleryResult(out, result_manifest, index, todo, done, total)


@dataclass
class GalleryPlan:
    """What a gallery run covers: the resolved settings record and which units are still to do."""

    config: RenderConfig
    size: int
    prefix: str
    settings: dict
    addresses: dict
    todo: list
    done: list
    fingerprint: dict
    key: str  # digest of ``fingerprint``: what a finished unit.json must carry to be reused


def plan_gallery(model: HookedModel, layer: str, out: Path, cfg: RenderConfig, *, units=None, unit_spec=None,
                 dataset=None, diverse: int = 0, negative: bool = False, k: int = 9, shard=None,
                 objective: str = "channel", max_examples: Optional[int] = None,
                 diversity_weight: float = 1.0) -> GalleryPlan:
    """Validate the units and shard, build the settings record and fingerprint, and split the
    units into todo/done (done: a unit.json of this fingerprint exists). Cleans stale temp files."""
    prefix, n_units = unit_prefix_and_count(model, layer, unit_spec)
    if isinstance(units, str) or units is None:
        indices = parse_range(units or "all", n_units)
    else:
        indices = [int(i) for i in units]
        parse_range(",".join(map(str, indices)) or "0", n_units)  # validates the range
    if not indices:
        raise InputError("no units selected")
    k_shard, n_shard = parse_shard(shard)
    mine = indices[k_shard - 1::n_shard]
    size = int(cfg.size or model.spec.input_size)
    cfg = cfg.replace(size=size)
    steps, transforms = cfg.steps, cfg.transforms
    settings = {"steps": steps, "size": size, "param": cfg.param, "seed": cfg.seed, "diverse": diverse,
                "negative": bool(negative), "k": k, "dataset": str(dataset) if dataset else None,
                "redirect_relu_steps": redirect_steps(cfg.redirect_relu, steps), "init_sd": cfg.param_kwargs.get("sd"),
                "objective": objective, "transforms": transforms if isinstance(transforms, str) or transforms is None
                else repr(transforms)}
    settings.update(speed_settings(cfg))  # only the speed options that are set: old records stay equal
    fp = gallery_fingerprint(model, cfg, settings, prefix, dataset=dataset, max_examples=max_examples,
                             diversity_weight=diversity_weight)
    key = digest(fp)
    clean_stale_tmp(out)  # leftovers of writes killed mid-way
    addresses = {i: f"{prefix}:{i}" for i in mine}
    todo, done = [], []
    for i in mine:
        (done if _finished(out, addresses[i], key) else todo).append(i)
    log.info("gallery %s: %d units in shard %d/%d, %d already finished", prefix, len(mine), k_shard, n_shard, len(done))
    return GalleryPlan(cfg, size, prefix, settings, addresses, todo, done, fp, key)


def examples_batch(cfg: RenderConfig) -> int:
    """Photos per forward pass of the dataset-example scan: one under ``exact`` (see device.exact_mode)."""
    return 1 if cfg.exact else 32


def speed_settings(cfg: RenderConfig) -> dict:
    """The opt-in speed and numeric options of ``cfg`` that differ from the defaults (they
    change renders, at least in the last bits: ``exact`` units are never mixed with others)."""
    base = RenderConfig()
    names = ("precision", "channels_last", "compile", "coarse_to_fine", "lr_schedule", "early_stop", "exact")
    return {n: getattr(cfg, n) for n in names if getattr(cfg, n) != getattr(base, n)}


def _rel(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def gallery_fingerprint(model: HookedModel, cfg: RenderConfig, settings: dict, prefix: str, *,
                        dataset=None, max_examples: Optional[int] = None, diversity_weight: float = 1.0) -> dict:
    """Everything that determines a gallery unit's files, except the unit itself (see the module doc)."""
    sae = sae_fingerprint(SAELayer.parse(prefix).sae) if is_sae_layer(prefix) else None
    return {"scheme": 1, "seeding": SEEDING_VERSION, "package": package_version(), **model_fingerprint(model),
            "units": prefix, "sae": sae, "settings": canonical(settings),
            "render": canonical({"lr": cfg.lr, "param_kwargs": cfg.param_kwargs, "transforms": cfg.transforms}),
            "diversity_weight": float(diversity_weight), "max_examples": max_examples,
            "dataset": folder_fingerprint(dataset) if dataset else None}


def _read_unit(f: Path) -> Optional[dict]:
    try:
        rec = json.loads(f.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return None
    return rec if isinstance(rec, dict) else None


def _finished(out: Path, addr: str, key: str) -> bool:
    """The unit's ``unit.json`` exists and carries this run's fingerprint digest."""
    rec = _read_unit(out / "units" / _slug(addr) / "unit.json")
    return rec is not None and rec.get("fingerprint") == key and rec.get("unit") == addr


def _clear_unit(udir: Path) -> None:
    """Remove a unit folder's old files, ``unit.json`` first (so a kill leaves it unfinished, never mixed).

    The temp file of another live process's atomic write is kept: two runs rendering the same
    unit at once (identical runs into one folder) would otherwise break each other's rename."""
    if not udir.is_dir():
        return
    (udir / "unit.json").unlink(missing_ok=True)
    for f in list(udir.iterdir()):
        if f.name.endswith(".tmp") and f.name.startswith(".") and not is_stale_tmp(f):
            continue
        if f.is_dir():
            shutil.rmtree(f, ignore_errors=True)
        else:
            f.unlink(missing_ok=True)


def load_units(out: Union[str, os.PathLike]) -> list:
    """Every finished unit record under ``out/units``, sorted by unit index."""
    recs = []
    for f in sorted(Path(out, "units").glob("*/unit.json")):
        try:
            recs.append(json.loads(f.read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError, OSError) as e:
            log.warning("ignoring unreadable %s: %s", f, e)
    return sorted(recs, key=lambda r: (str(r.get("unit", "")).rsplit(":", 1)[0], r.get("index", 0)))


def manifest_units(out: Union[str, os.PathLike]) -> list:
    """The units ``gallery.json`` lists (finished, of the gallery's current fingerprint); [] without one."""
    f = Path(out) / "gallery.json"
    try:
        units = json.loads(f.read_text()).get("units", [])
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return []
    return [u for u in units if isinstance(u, dict)] if isinstance(units, list) else []


def write_manifest(out: Path, model, prefix: str, settings: dict, notes: Optional[dict] = None,
                   fingerprint: Optional[dict] = None) -> Path:
    """``gallery.json``: model, unit prefix, settings and every finished unit's record.

    ``notes`` (unit index -> text), when given, replace the notes stored with the units, so
    labels can change without re-rendering. With ``fingerprint`` (``{"key": digest, ...}``),
    only units of that fingerprint are listed: others (another model, weights or settings)
    are counted in ``stale_units`` and left out.
    """
    units = [r for r in load_units(out) if str(r.get("unit", "")).startswith(prefix + ":")]
    stale = 0
    if fingerprint is not None:
        kept = [r for r in units if r.get("fingerprint") == fingerprint["key"]]
        stale = len(units) - len(kept)
        if stale:
            log.warning("%s: %d finished units of another model/settings are not listed (rerun them to replace)",
                        out, stale)
        units = kept
    if notes is not None:
        for r in units:
            r["note"] = notes.get(int(r.get("index", -1)))
    compared = [r for r in units if "beats_dataset" in r]
    beating = {"measure": MEASURE, "units_compared": len(compared),
               "share": sum(bool(r["beats_dataset"]) for r in compared) / len(compared) if compared else None}
    return write_json(out / "gallery.json", {"model": model.spec.name, "layer": prefix, "settings": settings,
                                             "fingerprint": fingerprint, "n_units": len(units), "stale_units": stale,
                                             "render_beats_dataset": beating, "units": units})
