"""``visioncircuits bench featvis``: this engine against Lucent's ``render_vis``, same process.

Same model instance, units, image size, steps, parameterisation (FFT, decorrelated colour,
Adam lr 0.05) and transform chain (Lucent's ``standard_transforms``, ours drawn per image).
Initial noise: Lucent's sd 0.01, ours ``--init-sd`` (default 0.1, the engine's default; with
0.01 ReLU units that are 0 on a near-grey image get no gradient under our reflection-padded
transforms, while Lucent's zero-filled rotations happen to wake them up). Lucent renders one unit per call (its
usual use); this engine renders all
units in one batch. Objectives are measured the same way for both: the unit's spatial-mean
activation on the final, untransformed image. A third row times a bare forward+backward
(input gradient only) truncated at the target layer, on the same batch shape.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import time

import numpy as np
import torch

from visioncircuits.errors import InputError, WeightsError

log = logging.getLogger(__name__)
DESCRIPTION = "feature visualisation: this engine vs lucent render_vis (time per unit-step, objective reached)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="inceptionv1")
    p.add_argument(
        "--weights", default=None, help="weights file or 'random' (default: published if cached, else random)"
    )
    p.add_argument("--layer", default="mixed4a")
    p.add_argument("--units", default="0:4", help="channel range of --layer, e.g. 0:4 or 3,7,11")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--steps", type=int, default=64)
    p.add_argument("--eval-every", type=int, default=4, help="how often to measure this engine's objective (not timed)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--init-sd", type=float, default=0.1, help="this engine's initial noise (lucent uses 0.01)")
    p.add_argument("--skip-lucent", action="store_true")


def _load(args):
    from visioncircuits.zoo import load_model

    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")  # where lucent puts its tensors
    if args.weights is not None:
        return load_model(args.model, weights=args.weights, device=device), args.weights
    try:
        return load_model(args.model, device=device), "published"
    except WeightsError as e:
        log.warning("no published weights (%s); using random weights", e)
        return load_model(args.model, weights="random", device=device), "random"


def _values(model, layer, channels, images: torch.Tensor) -> list:
    with torch.no_grad():
        a = model.run_with_cache(images.to(model.device), [layer])[layer]
        return [float(a[i, c].mean()) for i, c in enumerate(channels)]


def run_lucent(model, layer, channels, size, steps) -> tuple:
    """Lucent's render_vis, one unit per call; returns (seconds, final images)."""
    from lucent.optvis import objectives, param, render, transform

    images, t0 = [], time.perf_counter()
    for c in channels:
        out = render.render_vis(
            model, objectives.channel("net_" + layer.replace(".", "_"), c),
            param_f=lambda: param.image(size, sd=0.01), transforms=list(transform.standard_transforms),
            thresholds=(steps,), preprocess=False, progress=False, show_image=False,
            # below 224 px lucent would upsample to 224; instead resize to the padded size our
            # engine feeds the model (size + 2 * 12), so both see the same input size
            fixed_image_size=size + 24 if size < 224 else None)
        images.append(torch.from_numpy(np.ascontiguousarray(out[-1])).permute(0, 3, 1, 2))
    return time.perf_counter() - t0, torch.cat(images)


def bare_step(model, layer, n, size, reps=5) -> float:
    """Median seconds of forward + input-gradient backward, stopped at ``layer``, batch n."""
    times = []
    for _ in range(reps + 1):
        x = torch.rand(n, 3, size, size, device=model.device, requires_grad=True)
        t0 = time.perf_counter()
        a = model.run_with_cache(x, [layer], detach=False)[layer]
        torch.autograd.grad(a.mean(), x)
        if x.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def run(args: argparse.Namespace) -> list:
    from visioncircuits.featvis import render
    from visioncircuits.featvis.transforms import lucent_standard
    from visioncircuits.units import parse_range

    if args.steps < 1 or args.size < 16:
        raise InputError("--steps must be >= 1 and --size >= 16")
    if args.threads:
        torch.set_num_threads(args.threads)
    model, weights = _load(args)
    model.resolve_layer(args.layer)
    channels = parse_range(args.units, model.channels(args.layer))
    n, steps, size = len(channels), args.steps, args.size
    rows = []
    common = {"model": f"{args.model} ({weights})", "layer": args.layer, "units": n, "steps": steps, "size": size}

    lucent_vals = None
    if not args.skip_lucent:
        secs, imgs = run_lucent(model, args.layer, channels, size, steps)
        lucent_vals = _values(model, args.layer, channels, imgs)
        rows.append(
            {
                "engine": "lucent render_vis",
                **common,
                "seconds": secs,
                "s/unit-step": secs / (n * steps),
                "objective": float(np.mean(lucent_vals)),
                "time to lucent obj (s)": "",
                "step (s)": secs / (n * steps),
                "step / bare": "",
            }
        )

    res = render(model, [f"{args.layer}:{c}" for c in channels], steps=steps, size=size, param="fft",
                 param_kwargs={"sd": args.init_sd}, transforms=lucent_standard(), lr=0.05, batch_size=n, progress=False,
                 eval_every=max(1, args.eval_every))
    opt_secs = res.history[-1][1]
    intervals = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(res.history, res.history[1:])]
    step = statistics.median(intervals) if intervals else opt_secs / steps
    reach = ""
    if lucent_vals is not None:
        target = float(np.mean(lucent_vals))
        reach = next((f"{h[1]:.3g} (step {h[0]})" for h in res.history if np.mean(h[2]) >= target), "not reached")
    pad = 12  # lucent_standard pads 12 px on each side
    bare = bare_step(model, args.layer, n, size + 2 * pad)
    rows.append(
        {
            "engine": f"visioncircuits render (sd {args.init_sd:g})",
            **common,
            "seconds": opt_secs,
            "s/unit-step": opt_secs / (n * steps),
            "objective": float(np.mean(res.values)),
            "time to lucent obj (s)": reach,
            "step (s)": step,
            "step / bare": step / bare,
        }
    )
    rows.append({"engine": "bare fwd+bwd to layer", **common, "seconds": bare * steps, "s/unit-step": bare / n,
                 "objective": "", "time to lucent obj (s)": "", "step (s)": bare, "step / bare": 1.0})
    if lucent_vals is not None:  # lucent's step renders one unit: compare with a batch-1 bare step
        rows[0]["step / bare"] = rows[0]["step (s)"] / bare_step(model, args.layer, 1, size + 2 * pad)
    return rows
