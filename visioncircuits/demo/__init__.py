"""The main job, ``visioncircuits demo --out DIR``: the whole story on the toy world, offline.

Stages live in ``visioncircuits/demo/stage_<NN>_<name>.py``; each defines ``TITLE`` and
``run(ctx: DemoContext) -> list[Artefact]`` and writes only under ``ctx.out / <name>``. The
index page links every artefact of every stage. A stage that fails is reported on the index
(and re-raised at the end) rather than hiding the stages that worked.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from tqdm.auto import tqdm

from visioncircuits.atomic import write_json
from visioncircuits.errors import VisionCircuitsError
from visioncircuits.report import write_page

log = logging.getLogger(__name__)


class DemoStageError(VisionCircuitsError):
    """A demo stage failed; the index page still lists what the other stages produced."""


@dataclass
class Artefact:
    """One output a stage produced: ``href`` is relative to the demo folder."""

    title: str
    href: str
    summary: str = ""
    metrics: dict = field(default_factory=dict)


@dataclass
class DemoContext:
    out: Path
    seed: int = 0
    quick: bool = False
    device: Optional[str] = None
    shared: dict = field(default_factory=dict)  # stages may leave results for later stages
    dataset: Optional[Path] = None  # a user photo folder (--dataset): dataset examples, SAE data, probe set

    def stage_dir(self, name: str) -> Path:
        d = self.out / name
        d.mkdir(parents=True, exist_ok=True)
        return d


def stage_names() -> list[str]:
    import visioncircuits.demo as pkg

    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name.startswith("stage_"))


def run_demo(
    out: str | Path,
    quick: bool = False,
    seed: int = 0,
    stages: Optional[Sequence[str]] = None,
    device: Optional[str] = None,
    dataset: str | Path | None = None,
) -> Path:
    """Run every demo stage (or those whose name contains one of ``stages``) and write the index.

    ``dataset``: a folder of photos for the real-model stage (checked before anything is written)."""
    if dataset is not None:
        from visioncircuits.data import check_image_folder
        from visioncircuits.errors import InputError

        if not Path(dataset).is_dir():
            raise InputError(f"dataset {dataset}: not a folder")
        check_image_folder(dataset, "dataset")  # no images, or none readable: a true one-line error
        dataset = Path(dataset).resolve()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(out=out, seed=seed, quick=quick, device=device, dataset=dataset)
    names = [n for n in stage_names() if not stages or any(s in n for s in stages)]
    sections = []
    errors = []
    for name in tqdm(names, desc="demo", unit="stage"):
        mod = importlib.import_module(f"visioncircuits.demo.{name}")
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            artefacts = mod.run(ctx)
            err = None
        except Exception as e:  # reported on the page, re-raised below
            log.exception("demo stage %s failed", name)
            artefacts, err = [], f"{type(e).__name__}: {e}"
            errors.append((name, e))
        sections.append(
            {
                "name": name,
                "title": mod.TITLE,
                "seconds": time.perf_counter() - t0,
                "cpu_seconds": round(time.process_time() - c0, 1),
                "artefacts": artefacts,
                "error": err,
            }
        )
    write_json(out / "demo.json", [{**s, "artefacts": [a.__dict__ for a in s["artefacts"]]} for s in sections])
    index = write_page(
        out / "index.html",
        "demo_index.html.j2",
        sections=sections,
        quick=quick,
        seed=seed,
        dataset=str(dataset) if dataset else "",
    )
    if errors:
        name, e = errors[0]
        raise DemoStageError(
            f"demo stage {name} failed ({len(errors)} of {len(names)} stages failed; see {index}): {e}"
        ) from e
    return index
