"""``visioncircuits bench ray``: a gallery on 1 and 2 local Ray workers against one process.

Rows (one gallery job per row, each into a fresh folder):

* ``single process``: ``build_gallery`` under ``device.batch_invariant()`` (one torch thread,
  oneDNN off), the numeric mode the Ray tasks copy from the driver, so outputs compare byte for byte;
* ``ray, 1 worker`` / ``ray, 2 workers``: ``ray_gallery`` on a local Ray instance started
  with 1 or 2 CPUs and one shard per worker. ``ray start s`` is ``ray.init`` (reported apart);
  ``wall s`` is the job itself; ``CPU s`` sums the driver and every Ray process (workers,
  raylet, GCS) over the job, read with psutil before the instance shuts down; ``busiest CPU s``
  is the CPU time of the busiest worker (the critical path when every worker has a free core);
* the same on a small job (2 units, few steps): the fixed cost of going through Ray.

``speed-up wall`` = wall(1 worker) / wall; ``speed-up CPU`` = busiest(1 worker) / busiest, what
the wall speed-up would be on free cores. ``identical`` compares every output file with the
single-process run's, byte for byte. On a machine whose cores are shared (``load``: the
1-minute load average before the row) the wall times are noisy and 2 workers cannot beat the
cores that are free; this measures the backend's overhead and what 2 local cores give, not
cluster scaling.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

DESCRIPTION = "gallery on 1 vs 2 local Ray workers and Ray's overhead against one process (identical outputs)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="toy-resnet-s0")
    p.add_argument("--layer", default="block2.relu2")
    p.add_argument("--units", default="0:8", help="units of the main job (default 0:8)")
    p.add_argument("--steps", type=int, default=128, help="render steps of the main job")
    p.add_argument("--small-units", default="0:2")
    p.add_argument("--small-steps", type=int, default=16)
    p.add_argument("--size", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=8,
                   help="render batch (default 8, as measured in results/bench_ray.json)")


def _tree(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _cpu_by_process() -> dict:
    """{pid: (is a Ray worker, CPU seconds)} of this process and every live descendant (Ray's processes)."""
    import psutil

    me = psutil.Process()
    out = {}
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
            out[p.pid] = (p.name().startswith("ray::") or "ray::" in " ".join(p.cmdline()[:1]), t.user + t.system)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return out


def _measure(job) -> tuple:
    """(wall s, CPU s of all processes, CPU s of the busiest Ray worker or of this process)."""
    before, t0 = _cpu_by_process(), time.perf_counter()
    job()
    wall, after = time.perf_counter() - t0, _cpu_by_process()
    delta = {pid: (w, c - before.get(pid, (w, 0.0))[1]) for pid, (w, c) in after.items()}
    workers = [c for w, c in delta.values() if w]
    return wall, sum(c for _, c in delta.values()), max(workers) if workers else delta[os.getpid()][1]


def run(args: argparse.Namespace) -> list[dict]:
    import ray

    from visioncircuits.device import batch_invariant
    from visioncircuits.distributed import RayConfig
    from visioncircuits.distributed.cluster import start_local
    from visioncircuits.distributed.gallery import ray_gallery
    from visioncircuits.featvis.config import RenderConfig
    from visioncircuits.featvis.gallery import build_gallery
    from visioncircuits.units import parse_range
    from visioncircuits.zoo import load_model

    if ray.is_initialized():
        ray.shutdown()
    model = load_model(args.model, device="cpu")
    size = int(args.size or model.spec.input_size)
    root = Path(tempfile.mkdtemp(prefix="bench_ray_"))
    rows = []
    try:
        for job, units, steps in (("gallery", args.units, args.steps), ("small gallery", args.small_units,
                                                                          args.small_steps)):
            cfg = RenderConfig(steps=steps, size=size, seed=0, progress=False, batch_size=args.batch_size)
            n_units = len(parse_range(units, model.channels(args.layer)))
            ref = root / f"{job}-single"
            load = os.getloadavg()[0]
            with batch_invariant():
                wall, cpu, busy = _measure(lambda: build_gallery(model, args.layer, ref, cfg, units=units))
            rows.append({"job": job, "units": n_units, "steps": steps, "run": "single process",
                         "ray start s": None, "wall s": round(wall, 1), "CPU s": round(cpu, 1),
                         "busiest CPU s": round(busy, 1), "speed-up wall": None, "speed-up CPU": None,
                         "identical": True, "load": round(load, 1)})
            base = None
            for workers in ((1, 2) if job == "gallery" else (2,)):
                out = root / f"{job}-ray{workers}"
                load = os.getloadavg()[0]
                s0 = time.perf_counter()
                start_local(workers)
                start = time.perf_counter() - s0
                try:
                    with batch_invariant():  # the tasks copy the driver's numeric mode
                        wall, cpu, busy = _measure(lambda: ray_gallery(
                            model, args.layer, out, cfg, units=units, ray=RayConfig(shards=workers, progress=False)))
                finally:
                    ray.shutdown()
                base = base or (wall, busy)
                first = job == "gallery"
                rows.append({"job": job, "units": n_units, "steps": steps,
                             "run": f"ray, {workers} worker{'s' if workers > 1 else ''}",
                             "ray start s": round(start, 1), "wall s": round(wall, 1), "CPU s": round(cpu, 1),
                             "busiest CPU s": round(busy, 1),
                             "speed-up wall": round(base[0] / wall, 2) if first else None,
                             "speed-up CPU": round(base[1] / busy, 2) if first else None,
                             "identical": _tree(out) == _tree(ref), "load": round(load, 1)})
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return rows
