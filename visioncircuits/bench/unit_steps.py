"""``visioncircuits bench unit_steps``: the cost of one feature-visualisation unit-step, in CPU seconds and FLOPs.

A unit-step is one optimisation step of one unit's image (forward to the unit's layer,
backward to the pixels). For a few layers spread over the model's depth this renders
``--units`` channels for ``--steps`` steps in one batch with the normal engine
(``featvis.render``, one torch thread, deterministic kernels) and divides the process CPU time
by units x steps; it also counts the FLOPs of one forward+backward of one image to that layer
(``torch.utils.flop_counter``), which turns the CPU cost into an effective FLOP rate that the
scaling plan (``scripts/reproduce_scaling_plan.py``) applies to every layer of other models.
Also reported: the mean PNG size of the renders (storage per unit image).
"""
from __future__ import annotations

import argparse
import io
import time

import torch

from visioncircuits.errors import InputError

DESCRIPTION = "feature visualisation: CPU seconds and FLOPs per unit-step at a few layers of a model"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="mobilenet-v2")
    p.add_argument("--weights", default=None, help="weights (default: published; 'random' for untrained)")
    p.add_argument("--layers", default=None, help="comma-separated layers (default: 4 main layers over the depth)")
    p.add_argument("--units", type=int, default=4, help="channels rendered per layer (one batch)")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--size", type=int, default=None, help="image size (default: the model's)")


def flops_per_unit_step(model, layer: str, size: int) -> int:
    """FLOPs of one forward (stopping at ``layer``) and backward to the pixels (no weight
    gradients, like the renderer), for one image."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 3, size, size, device=model.device, requires_grad=True)
    model.run_with_cache(x.detach(), [layer])  # the first call of a model traces it (a full pass): not counted
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:  # gradients to the pixels only, as featvis.render does (torch.autograd.grad)
        p.requires_grad_(False)
    try:
        with FlopCounterMode(display=False) as counter:
            model.run_with_cache(x, [layer], detach=False)[layer][:, 0].mean().backward()
    finally:
        for p in params:
            p.requires_grad_(True)
    return int(counter.get_total_flops())


def default_layers(model) -> list[str]:
    main = list(model.spec.main_layers) or model.layer_names()
    picks = sorted({round(i * (len(main) - 1) / 3) for i in range(4)})
    return [main[i] for i in picks]


def run(args: argparse.Namespace) -> list[dict]:
    from visioncircuits.device import deterministic
    from visioncircuits.featvis import RenderConfig
    from visioncircuits.featvis.render import render
    from visioncircuits.zoo import load_model

    if args.units < 1 or args.steps < 1:
        raise InputError("--units and --steps must be positive")
    model = load_model(args.model, weights=args.weights)
    size = int(args.size or model.spec.input_size)
    layers = args.layers.split(",") if args.layers else default_layers(model)
    for layer in layers:
        model.resolve_layer(layer)
    rows = []
    for layer in layers:
        n = min(args.units, model.channels(layer))
        units = [f"{layer}:{c}" for c in range(n)]
        cfg = RenderConfig(steps=args.steps, size=size, batch_size=n, progress=False, seed=0)
        with deterministic(threads=1):
            c0, t0 = time.process_time(), time.perf_counter()
            res = render(model, units, cfg)
            cpu, wall = time.process_time() - c0, time.perf_counter() - t0
            flops = flops_per_unit_step(model, layer, size)
        png = []
        for i in range(n):
            buf = io.BytesIO()
            res.pil(i).save(buf, format="PNG")
            png.append(len(buf.getvalue()))
        per = cpu / (n * args.steps)
        rows.append({"model": args.model, "layer": layer, "size": size, "units": n, "steps": args.steps,
                     "cpu_s_per_unit_step": round(per, 4), "wall_s": round(wall, 1),
                     "gflop_per_unit_step": round(flops / 1e9, 3),
                     "effective_gflop_per_cpu_s": round(flops / 1e9 / per, 2),
                     "png_kb_mean": round(sum(png) / len(png) / 1024, 1)})
    return rows
