"""``visioncircuits bench featvis_speed``: time-to-quality against lucent, and the speed options.

``--mode ttq`` (default): the headline measure of issue 16. Seconds for this engine to reach
the objective lucent's ``render_vis`` reaches at the end of its run, on the same model
instance, units, image size, parameterisation (FFT, decorrelated colour, Adam lr 0.05) and
transform chain (lucent's ``standard_transforms``). The contenders run interleaved in one
process, ``--rounds`` times (lucent, engine default, engine ``--fast`` preset, then the
preset's parts alone: bf16 + channels_last, coarse-to-fine; lucent, ...), and the medians
are reported. Times are **CPU seconds of the one thread that does the work**
(``--threads 1``): on a machine shared with other jobs, wall time measures the neighbours.
Objectives: the mean over units of each unit's spatial-mean activation on the untransformed
full-size image, measured the same way for all three (lucent's at its snapshot steps, taken
every ``--eval-every`` steps through ``thresholds``; the time of a snapshot is read when
lucent converts it). Each row keeps its objective-vs-time curve (``curve``) for the plot
(``scripts/plot_featvis_speed.py``). With ``--dataset`` the rows also say whether the final
renders beat the photos, with the galleries' measure (each unit's spatial max against its
best photo).

``--mode options``: the per-step cost of each speed option against float32, interleaved
(A, B, A, B; medians), and the objective each reaches after ``--steps`` steps.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import time
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import torch

from visioncircuits.errors import InputError

log = logging.getLogger(__name__)
DESCRIPTION = "feature visualisation speed: time to reach lucent's objective (lucent vs default vs --fast), options"

OPTIONS = {
    "fp32 (default)": {},
    "channels_last": {"channels_last": True},
    "bf16 autocast": {"precision": "bf16"},
    "bf16 + channels_last": {"precision": "bf16", "channels_last": True},
    "coarse-to-fine 0.5": {"coarse_to_fine": 0.5},
    "lr 0.1 cosine": {"lr": 0.1, "lr_schedule": "cosine"},
    "compile": {"compile": True},
    "one image per batch": {"batch_size": 1},
    "exact": {"exact": True},
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", default="ttq", choices=("ttq", "options"))
    p.add_argument("--model", default="inceptionv1")
    p.add_argument("--weights", default=None, help="weights file or 'random' (default: the model's published weights)")
    p.add_argument("--layer", default="mixed4a")
    p.add_argument("--units", default="0:4", help="channel range of --layer")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--steps", type=int, default=128, help="lucent's steps per unit (and the engine's budget)")
    p.add_argument("--eval-every", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2, help="interleaved repetitions; medians are reported")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: CPU time = work)")
    p.add_argument("--options", default=None,
                   help=f"comma list of --mode options rows (default all: {', '.join(OPTIONS)})")
    p.add_argument("--dataset", default=None, help="photo folder: also check the renders beat the photos")
    p.add_argument("--device", default=None)


# ---------------------------------------------------------------- clocks
@contextmanager
def _cpu_clock():
    """Make the render loop's timer read this thread's CPU time (restored on exit)."""
    import importlib

    # the modules, not the ``render`` function that visioncircuits.featvis exports under that name
    render = importlib.import_module("visioncircuits.featvis.render")
    fast_loop = importlib.import_module("visioncircuits.featvis.fast_loop")
    saved = render.time, fast_loop.time
    shim = SimpleNamespace(perf_counter=time.thread_time)
    for mod in (render, fast_loop):
        setattr(mod, "time", shim)  # noqa: B010 (a module attribute, swapped for the block)
    try:
        yield
    finally:
        setattr(render, "time", saved[0])  # noqa: B010
        setattr(fast_loop, "time", saved[1])  # noqa: B010


def _mean_values(model, layer, channels, images: torch.Tensor) -> float:
    with torch.no_grad():
        a = model.run_with_cache(images.to(model.device), [layer])[layer]
        return float(np.mean([float(a[i, c].mean()) for i, c in enumerate(channels)]))


# ---------------------------------------------------------------- contenders
def run_lucent(model, layer, channels, size, steps, eval_every) -> dict:
    """lucent's render_vis, one unit per call; snapshot every ``eval_every`` steps with its CPU time."""
    from lucent.optvis import objectives, param, render, transform

    thresholds = tuple(range(eval_every, steps + 1, eval_every))
    stamps: list = []
    orig = render.tensor_to_img_array

    def stamp(t):
        stamps.append(time.thread_time())
        return orig(t)

    per_unit = []
    render.tensor_to_img_array = stamp
    try:
        for c in channels:
            torch.manual_seed(c)
            stamps.clear()
            t0 = time.thread_time()
            out = render.render_vis(
                model, objectives.channel("net_" + layer.replace(".", "_"), c),
                param_f=lambda: param.image(size, sd=0.01), transforms=list(transform.standard_transforms),
                thresholds=thresholds, preprocess=False, progress=False, show_image=False,
                fixed_image_size=size + 24 if size < 224 else None)
            imgs = [torch.from_numpy(np.ascontiguousarray(o)).permute(0, 3, 1, 2) for o in out]
            per_unit.append(([s - t0 for s in stamps], imgs))
    finally:
        render.tensor_to_img_array = orig
    curve, finals = [], None
    for k, step in enumerate(thresholds):
        seconds = sum(times[k] for times, _ in per_unit)  # the units run one after another
        batch = torch.cat([imgs[k] for _, imgs in per_unit])
        curve.append((step, seconds, _mean_values(model, layer, channels, batch)))
        finals = batch
    return {"curve": curve, "images": finals}


def run_engine(model, layer, channels, size, steps, eval_every, **options) -> dict:
    from visioncircuits.featvis import RenderConfig, render
    from visioncircuits.featvis.transforms import lucent_standard

    cfg = RenderConfig(steps=steps, size=size, param="fft", param_kwargs={"sd": 0.1}, transforms=lucent_standard(),
                       lr=0.05, batch_size=len(channels), progress=False, eval_every=eval_every)
    cfg = cfg.replace(**options)
    with _cpu_clock():
        res = render(model, [f"{layer}:{c}" for c in channels], cfg)
    return {"curve": merge_chunks(res.history), "images": res.images}


def merge_chunks(history: list) -> list:
    """One curve from a render's history: with more units than ``batch_size`` the history has
    one run of snapshots per chunk, each timed from 0, so a snapshot's time is the sum over
    chunks and its objective the mean over all units."""
    chunks: list = []
    for step, t, values in history:
        if not chunks or step <= chunks[-1][-1][0]:
            chunks.append([])
        chunks[-1].append((step, t, list(values)))
    return [(snaps[0][0], sum(s[1] for s in snaps), float(np.mean([v for s in snaps for v in s[2]])))
            for snaps in zip(*chunks)]


def fast_options() -> dict:
    """The ``--fast`` preset's speed fields (what ``RenderConfig.fast()`` sets)."""
    from visioncircuits.featvis.config import FAST_PRESET

    return dict(FAST_PRESET)


def time_to(curve: list, target: float):
    """CPU seconds of the first snapshot at or above ``target`` (None: never reached)."""
    return next((t for _, t, v in curve if v >= target), None)


# ---------------------------------------------------------------- modes
def _setup(args):
    from visioncircuits.device import pick_device
    from visioncircuits.units import parse_range
    from visioncircuits.zoo import load_model

    if args.steps < 1 or args.size < 16 or args.rounds < 1 or args.eval_every < 1:
        raise InputError("--steps, --rounds and --eval-every must be >= 1 and --size >= 16")
    torch.set_num_threads(args.threads)
    model = load_model(args.model, weights=args.weights, device=pick_device(args.device))
    model.resolve_layer(args.layer)
    channels = parse_range(args.units, model.channels(args.layer))
    return model, channels


def _beats_photos(model, layer, channels, images_by_row: dict, dataset) -> dict:
    """Per row: share of units whose render's spatial max beats every photo's (the gallery measure)."""
    from visioncircuits.data import ImageFolder
    from visioncircuits.featvis.quality import unit_peaks

    units = [f"{layer}:{c}" for c in channels]
    best = None
    for _, imgs in ImageFolder(dataset, 224).batches(64):
        peaks = unit_peaks(model, units, imgs).amax(0)
        best = peaks if best is None else torch.maximum(best, peaks)
    assert best is not None, "no photos"
    out = {}
    for name, imgs in images_by_row.items():
        own = unit_peaks(model, units, imgs).diagonal()
        out[name] = (float((own > best).float().mean()), float((own / best.clamp(min=1e-6)).median()))
    return out


def run(args: argparse.Namespace) -> list[dict]:
    from visioncircuits.featvis.precision import describe

    model, channels = _setup(args)
    common = {"model": args.model, "layer": args.layer, "units": len(channels), "size": args.size,
              "device": describe(model.device, "fp32", False).split()[0], "threads": torch.get_num_threads()}
    if args.mode == "options":
        return _options(args, model, channels, common)
    contenders = {
        "lucent render_vis": lambda: run_lucent(model, args.layer, channels, args.size, args.steps, args.eval_every),
        "engine (default)": lambda: run_engine(model, args.layer, channels, args.size, args.steps, args.eval_every),
        "engine (--fast)": lambda: run_engine(model, args.layer, channels, args.size, args.steps, args.eval_every,
                                             **fast_options()),
        "engine (bf16 + channels_last only)": lambda: run_engine(
            model, args.layer, channels, args.size, args.steps, args.eval_every, precision="bf16", channels_last=True),
        "engine (coarse-to-fine 0.5 only)": lambda: run_engine(
            model, args.layer, channels, args.size, args.steps, args.eval_every, coarse_to_fine=0.5),
    }
    runs: dict = {k: [] for k in contenders}
    for r in range(args.rounds):
        for name, fn in contenders.items():
            log.info("round %d: %s", r + 1, name)
            runs[name].append(fn())
    lucent_final = statistics.median(run["curve"][-1][2] for run in runs["lucent render_vis"])
    lucent_secs = statistics.median(run["curve"][-1][1] for run in runs["lucent render_vis"])
    beats = (_beats_photos(model, args.layer, channels, {k: v[-1]["images"] for k, v in runs.items()}, args.dataset)
             if args.dataset else {})
    rows = []
    for name, rs in runs.items():
        reach = [time_to(run["curve"], lucent_final) for run in rs]
        reached = [t for t in reach if t is not None]
        ttq = statistics.median(reached) if len(reached) == len(reach) else None
        # the median curve: per snapshot, the median time and objective over rounds
        curve = [(rs[0]["curve"][k][0], statistics.median(run["curve"][k][1] for run in rs),
                  statistics.median(run["curve"][k][2] for run in rs)) for k in range(len(rs[0]["curve"]))]
        fast_bf16 = name.endswith("(--fast)") and fast_options().get("precision") == "bf16"
        precision = "bf16" if "bf16" in name or fast_bf16 else "fp32"
        rows.append({
            "contender": name, **common, "dtype": precision, "steps": args.steps, "rounds": args.rounds,
            "cpu s (full run)": round(curve[-1][1], 1),
            "final objective": round(curve[-1][2], 3),
            "cpu s to lucent's objective": round(ttq, 1) if ttq is not None else "not reached",
            "x lucent's time": round(ttq / lucent_secs, 3) if ttq is not None else "",
            "lucent's objective": round(lucent_final, 3),
            "beat photos": round(beats[name][0], 2) if beats else "",
            "median x best photo": round(beats[name][1], 2) if beats else "",
            "curve": [[s, round(t, 3), round(v, 4)] for s, t, v in curve],
        })
    return rows


def _options(args, model, channels, common) -> list[dict]:
    names = [n.strip() for n in args.options.split(",")] if args.options else list(OPTIONS)
    bad = [n for n in names if n not in OPTIONS]
    if bad:
        raise InputError(f"unknown --options {bad}; choose from {', '.join(OPTIONS)}")
    results: dict = {n: [] for n in names}
    for _ in range(args.rounds):
        for n in names:
            run = run_engine(model, args.layer, channels, args.size, args.steps, args.eval_every, **OPTIONS[n])
            results[n].append(run["curve"])
    base = names[0]
    base_s = statistics.median(c[-1][1] for c in results[base])
    rows = []
    for n in names:
        secs = statistics.median(c[-1][1] for c in results[n])
        obj = statistics.median(c[-1][2] for c in results[n])
        o = OPTIONS[n]
        rows.append({"option": n, **common, "dtype": o.get("precision", "fp32"), "steps": args.steps,
                     "rounds": args.rounds, "cpu s": round(secs, 1), "x time of " + base: round(secs / base_s, 2),
                     "objective": round(obj, 3)})
    return rows
