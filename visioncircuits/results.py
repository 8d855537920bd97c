"""Published numbers: every figure in README.md and docs/readme/*.md lives in a results file.

A ``scripts/reproduce_<topic>.py`` (or ``visioncircuits bench ... --json``) measures and
calls :func:`write_results`, which stores the values together with the command that made
them, its wall and CPU time, the thread count and the package versions, atomically, under
``results/``. ``tests/test_published_numbers.py`` then checks that the docs quote those
files (after rounding), so a doc cannot drift from the code that produced its numbers.
"""

from __future__ import annotations

import datetime
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import torch

from visioncircuits.atomic import write_json
from visioncircuits.device import deterministic  # noqa: F401  (re-exported: measured runs use it)

RESULTS_DIR = Path(__file__).resolve().parent.parent / "results"


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (user + system)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Timer:
    """Wall and CPU seconds of a block (``with Timer() as t: ...; t.wall, t.cpu``)."""

    def __enter__(self) -> Timer:
        self._w, self._c = time.perf_counter(), _cpu_seconds()
        self.wall = self.cpu = 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self._w
        self.cpu = _cpu_seconds() - self._c


def _git_commit() -> Optional[str]:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=RESULTS_DIR.parent, capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def write_results(
    path: str | Path,
    values: dict[str, Any],
    command: str,
    timer: Optional[Timer] = None,
    threads: Optional[int] = None,
    **meta: Any,
) -> Path:
    """Write ``values`` with their provenance (command, runtime, threads, machine) to ``path`` atomically."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    record = {
        "command": command,
        "measured": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_seconds": round(timer.wall, 1) if timer else None,
        "cpu_seconds": round(timer.cpu, 1) if timer else None,
        "torch_threads": threads or torch.get_num_threads(),
        "load_average_at_end": round(load, 1) if load is not None else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"torch {torch.__version__}",
        "git_commit": _git_commit(),
        **meta,
        "values": values,
    }
    return write_json(Path(path), record)
