"""Benchmarks: ``visioncircuits bench <topic>`` prints measured tables.

Each ``visioncircuits/bench/<topic>.py`` defines ``DESCRIPTION``, ``add_arguments(parser)``
and ``run(args) -> list[dict]`` (rows of the table it measured). Speed goals live here, never
in timed tests.
"""
from __future__ import annotations

import importlib
import pkgutil


def topics() -> list[str]:
    import visioncircuits.bench as pkg

    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


def get(topic: str):
    from visioncircuits.errors import unknown

    if topic not in topics():
        raise unknown("benchmark", topic, topics())
    return importlib.import_module(f"visioncircuits.bench.{topic}")
