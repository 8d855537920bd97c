"""``visioncircuits bench circuits``: expanded weights, batched vs captum.optim's algorithm.

Two measurements on InceptionV1 (random weights unless ``--weights``: timing does not
depend on them):

* ``compare``: layer pairs timed in one process, this project's batched/windowed method
  against captum.optim's ``extract_expanded_weights`` run **in full** (one forward pass,
  then one ``retain_graph`` backward per upper channel, read at the centre; re-implemented
  from captum's source in :mod:`visioncircuits.bench._captum_circuits`, since the PyPI
  wheel has no ``captum.optim``), both on the same linearised model. ``--center captum``
  (default here) reads the centre where captum does, ``(H - 1) // 2``, so the two tensors
  must be equal: ``max_abs_diff`` compares every row.
* ``all``: every consecutive pair of main layers, with ``crop="auto"`` (the receptive
  field), and the total.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

DESCRIPTION = "expanded weights: batched vs captum.optim's per-channel algorithm (in full), and every main-layer pair"
COMPARE = (("mixed3a", "mixed3b", None), ("maxpool4", "mixed4a", 5))
MORE = (("mixed4c", "mixed4d", 5), ("mixed5a", "mixed5b", 5))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="inceptionv1")
    p.add_argument("--weights", default="random")
    p.add_argument("--mode", default="both", choices=("compare", "all", "both"))
    p.add_argument("--center", default="captum", choices=("captum", "floor_half"),
                   help="centre convention of the compared rows: captum's (H-1)//2 (default here) or H//2")
    p.add_argument("--more-pairs", action="store_true", help="also compare mixed4c->mixed4d and mixed5a->mixed5b")
    p.add_argument("--max-pairs", type=int, default=None, help="compare at most this many pairs (quick checks)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--repeats", type=int, default=1, help="interleaved repeats of each compared pair (medians)")
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
    from visioncircuits.bench._captum_circuits import captum_extract_expanded_weights
    from visioncircuits.circuits.expanded import ExpandedWeights
    from visioncircuits.device import pick_device
    from visioncircuits.zoo import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.model, weights=args.weights, device=pick_device(args.device))
    ew = ExpandedWeights(model, center=args.center)
    rows: list[dict] = []
    threads = torch.get_num_threads()
    _, setup, setup_cpu = _cpu_timed(lambda: (model.layer_info(), ew._small_image()))  # one-time shape traces
    rows.append({"measure": "setup", "pair": "layer shapes (once per model)", "shape": "", "rows_on": "",
                 "fast_s": round(setup, 2), "fast_cpu_s": round(setup_cpu, 2), "captum_s": "", "captum_cpu_s": "",
                 "speedup": "",
                 "speedup_cpu": "", "max_abs_diff": "", "center": args.center, "threads": threads})
    if args.mode in ("compare", "both"):
        if args.model.startswith("inceptionv1"):
            pairs = COMPARE + (MORE if args.more_pairs else ())
        else:
            pairs = _consecutive(model)[-3:]
        pairs = pairs[:args.max_pairs] if args.max_pairs else pairs
        for lower, upper, crop in pairs:
            runs = []  # fast, captum, fast, captum, ...: medians of --repeats interleaved runs
            w, fast, cpu = _cpu_timed(lambda: ew.compute(lower, upper, crop))
            ref, slow, slow_cpu = _cpu_timed(lambda: captum_extract_expanded_weights(ew.lin, lower, upper, crop))
            runs.append((fast, cpu, slow, slow_cpu))
            for _ in range(max(1, args.repeats) - 1):
                w, fast, cpu = _cpu_timed(lambda: ew.compute(lower, upper, crop))
                ref, slow, slow_cpu = _cpu_timed(lambda: captum_extract_expanded_weights(ew.lin, lower, upper, crop))
                runs.append((fast, cpu, slow, slow_cpu))
            fast, cpu, slow, slow_cpu = (statistics.median(r[i] for r in runs) for i in range(4))
            diff = float((w - ref).abs().max()) if w.shape == ref.shape else float("nan")
            rows.append({"measure": "compare", "pair": f"{lower} -> {upper}", "shape": "x".join(map(str, w.shape)),
                         "rows_on": "x".join(map(str, ew.last_size or ())), "fast_s": round(fast, 2),
                         "fast_cpu_s": round(cpu, 2), "captum_s": round(slow, 1), "captum_cpu_s": round(slow_cpu, 2),
                         "speedup": round(slow / max(fast, 1e-9), 1),
                         "speedup_cpu": round(slow_cpu / max(cpu, 1e-9), 1),
                         "max_abs_diff": diff,
                         "center": args.center, "threads": threads})
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
                         "fast_cpu_s": round(cpu, 2), "captum_s": "", "captum_cpu_s": "", "speedup": "",
                         "speedup_cpu": "", "max_abs_diff": "", "center": args.center, "threads": threads})
            del w
        rows.append({"measure": "all pairs", "pair": f"TOTAL ({len(pairs)} pairs)", "shape": "", "rows_on": "",
                     "fast_s": round(total, 1), "fast_cpu_s": round(total_cpu, 2), "captum_s": "", "captum_cpu_s": "",
                     "speedup": "",
                     "speedup_cpu": "", "max_abs_diff": "", "center": args.center, "threads": threads})
    return rows


def _consecutive(model) -> list[tuple[str, str, None]]:
    main = list(model.spec.main_layers)
    return [(a, b, None) for a, b in zip(main, main[1:])]
