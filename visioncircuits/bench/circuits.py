"""``visioncircuits bench circuits``: expanded weights, batched vs one backward per channel.

Two measurements on InceptionV1 (random weights unless ``--weights``: timing does not
depend on them):

* ``compare``: representative layer pairs, our batched/windowed method against the
  per-channel backward loop (captum.optim's method) on the same linearised model. The loop
  is timed on ``--loop-rows`` rows and extrapolated linearly to all rows (its cost per row
  is constant); the rows both methods computed are checked to agree.
* ``all``: every consecutive pair of main layers, with ``crop="auto"`` (the receptive
  field), and the total.
"""
from __future__ import annotations

import argparse
import time

import torch

DESCRIPTION = "expanded weights: batched vs per-channel backward loop, and every InceptionV1 main-layer pair"
COMPARE = (
    ("mixed3a", "mixed3b", None),
    ("maxpool4", "mixed4a", 5),
    ("mixed4c", "mixed4d", 5),
    ("mixed5a", "mixed5b", 5),
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="inceptionv1")
    p.add_argument("--weights", default="random")
    p.add_argument("--mode", default="both", choices=("compare", "all", "both"))
    p.add_argument(
        "--loop-rows", type=int, default=48, help="rows the per-channel loop is timed on (then extrapolated)"
    )
    p.add_argument("--max-pairs", type=int, default=None, help="compare at most this many pairs (quick checks)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--device", default=None)


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def _cpu_timed(fn):
    """(result, wall seconds, CPU seconds of this process): on a shared machine the CPU
    time says how much work was done, the wall time how long it took here."""
    c = time.process_time()
    out, wall = _timed(fn)
    return out, wall, time.process_time() - c


def run(args: argparse.Namespace) -> list[dict]:
    from visioncircuits.circuits.expanded import ExpandedWeights
    from visioncircuits.device import pick_device
    from visioncircuits.errors import InputError
    from visioncircuits.zoo import load_model

    if args.loop_rows < 1:
        raise InputError("--loop-rows must be positive")
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.model, weights=args.weights, device=pick_device(args.device))
    ew = ExpandedWeights(model)
    rows: list[dict] = []
    threads = torch.get_num_threads()
    _, setup, setup_cpu = _cpu_timed(lambda: (model.layer_info(), ew._small_image()))  # one-time shape traces
    rows.append({"measure": "setup", "pair": "layer shapes (once per model)", "shape": "", "rows_on": "",
                 "fast_s": round(setup, 2), "fast_cpu_s": round(setup_cpu, 1), "loop_s": "", "loop_timed_rows": "",
                 "speedup": "", "max_abs_diff": "", "threads": threads})
    if args.mode in ("compare", "both"):
        pairs = COMPARE if args.model.startswith("inceptionv1") else _consecutive(model)[-3:]
        pairs = pairs[:args.max_pairs] if args.max_pairs else pairs
        for lower, upper, crop in pairs:
            w, fast, cpu = _cpu_timed(lambda: ew.compute(lower, upper, crop))
            n = w.shape[0]
            k = min(args.loop_rows, n)
            idx = torch.linspace(0, n - 1, k).round().long().unique().tolist()
            ref, t_loop = _timed(lambda: ew.compute_loop(lower, upper, crop, units=idx))
            loop = t_loop / len(idx) * n
            rows.append(
                {
                    "measure": "compare",
                    "pair": f"{lower} -> {upper}",
                    "shape": "x".join(map(str, w.shape)),
                    "rows_on": "x".join(map(str, ew.last_size or ())),
                    "fast_s": round(fast, 2),
                    "fast_cpu_s": round(cpu, 1),
                    "loop_s": round(loop, 1),
                    "loop_timed_rows": len(idx),
                    "speedup": round(loop / fast, 1),
                    "max_abs_diff": float((w[idx] - ref).abs().max()),
                    "threads": threads,
                }
            )
            del w, ref
    if args.mode in ("all", "both"):
        total = total_cpu = 0.0
        pairs = _consecutive(model)
        for lower, upper, _ in pairs:
            w, t, cpu = _cpu_timed(lambda: ew.compute(lower, upper, "auto"))
            total += t
            total_cpu += cpu
            rows.append({"measure": "all pairs", "pair": f"{lower} -> {upper}", "shape": "x".join(map(str, w.shape)),
                         "rows_on": "x".join(map(str, ew.last_size or ())), "fast_s": round(t, 2),
                         "fast_cpu_s": round(cpu, 1), "loop_s": "",
                         "loop_timed_rows": "", "speedup": "", "max_abs_diff": "", "threads": threads})
            del w
        rows.append(
            {
                "measure": "all pairs",
                "pair": f"TOTAL ({len(pairs)} pairs)",
                "shape": "",
                "rows_on": "",
                "fast_s": round(total, 1),
                "fast_cpu_s": round(total_cpu, 1),
                "loop_s": "",
                "loop_timed_rows": "",
                "speedup": "",
                "max_abs_diff": "",
                "threads": threads,
            }
        )
    return rows


def _consecutive(model) -> list[tuple[str, str, None]]:
    main = list(model.spec.main_layers)
    return [(a, b, None) for a, b in zip(main, main[1:])]
