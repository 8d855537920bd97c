"""``visioncircuits bench gallery``: wall and CPU time of a whole gallery, stage by stage.

Builds the gallery of every unit of one layer (default: MobileNetV2 ``blocks.12``, 96
channels) with dataset examples from a photo folder, into a fresh temporary folder, and
splits the time into stages by timing the calls ``build_gallery`` makes: ``examples`` (the
pass over the photos: top-k, crops, stats), ``render`` (the optimisation), ``peaks``
(measuring each render on the gallery measure), ``page`` (manifest and HTML), and the
rest (PNG/JSON writes). ``--fast`` uses the ``RenderConfig.fast()`` preset. CPU seconds are
this process's (all threads); on a shared machine they are the better measure of work.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from contextlib import contextmanager

import torch

from visioncircuits.errors import InputError

DESCRIPTION = "gallery wall/CPU time for a whole layer with dataset examples, per stage (render, examples, page)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from visioncircuits.bench._paths import add_dataset_argument

    p.add_argument("--model", default="mobilenet-v2")
    p.add_argument("--layer", default="blocks.12")
    p.add_argument("--units", default="all")
    p.add_argument("--steps", type=int, default=64)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--fast", action="store_true", help="the RenderConfig.fast() preset")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--keep", default=None, help="write the gallery here instead of a temporary folder")
    p.add_argument("--device", default=None)
    add_dataset_argument(p)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@contextmanager
def _timed_calls(module, names: dict, totals: dict):
    """Wrap ``module.<attr>`` for each attr -> stage name, adding wall/CPU seconds to ``totals``."""
    saved = {a: getattr(module, a) for a in names}

    def wrap(attr, fn):
        def timed(*a, **k):
            w, c = time.perf_counter(), _cpu()
            try:
                return fn(*a, **k)
            finally:
                t = totals.setdefault(names[attr], [0.0, 0.0])
                t[0] += time.perf_counter() - w
                t[1] += _cpu() - c
        return timed

    for a, fn in saved.items():
        setattr(module, a, wrap(a, fn))
    try:
        yield
    finally:
        for a, fn in saved.items():
            setattr(module, a, fn)


def run(args: argparse.Namespace) -> list[dict]:
    from visioncircuits.bench._paths import dataset_folder
    from visioncircuits.device import pick_device
    from visioncircuits.featvis import RenderConfig, gallery, gallery_page
    from visioncircuits.featvis.precision import describe
    from visioncircuits.zoo import load_model

    if args.steps < 1 or args.size < 16:
        raise InputError("--steps must be >= 1 and --size >= 16")
    dataset = dataset_folder(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.model, device=pick_device(args.device))
    model.resolve_layer(args.layer)
    cfg = (RenderConfig.fast if args.fast else RenderConfig)(steps=args.steps, size=args.size, progress=False)
    totals: dict = {}
    stages = {"dataset_examples": "examples", "render": "render", "unit_peaks": "peaks", "write_manifest": "page"}
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or tmp
        w0, c0 = time.perf_counter(), _cpu()
        with _timed_calls(gallery, stages, totals), _timed_calls(gallery_page, {"write_gallery_page": "page"}, totals):
            res = gallery.build_gallery(model, args.layer, out, cfg, units=args.units, dataset=dataset)
        wall, cpu = time.perf_counter() - w0, _cpu() - c0
        recs = gallery.load_units(out)
    beats = [r.get("beats_dataset") for r in recs if "beats_dataset" in r]
    common = {"model": args.model, "layer": args.layer, "units": len(res.rendered), "steps": args.steps,
              "size": args.size, "preset": "fast" if args.fast else "default",
              "device": describe(model.device, cfg.precision, cfg.channels_last), "threads": torch.get_num_threads()}
    rows = []
    for stage in ("render", "examples", "peaks", "page"):
        w, c = totals.get(stage, [0.0, 0.0])
        rows.append({**common, "stage": stage, "wall s": round(w, 1), "cpu s": round(c, 1),
                     "share of cpu": round(c / cpu, 3)})
    w_rest = wall - sum(v[0] for v in totals.values())
    c_rest = cpu - sum(v[1] for v in totals.values())
    rows.append({**common, "stage": "other (PNG/JSON writes)", "wall s": round(w_rest, 1), "cpu s": round(c_rest, 1),
                 "share of cpu": round(c_rest / cpu, 3)})
    rows.append({**common, "stage": "total", "wall s": round(wall, 1), "cpu s": round(cpu, 1), "share of cpu": 1.0,
                 "beat photos": round(sum(map(bool, beats)) / max(1, len(beats)), 3)})
    return rows
