"""Several runs into one output folder at once: two shards, and two identical runs.

Both must finish, leave a manifest that lists every unit exactly once, and the same files as
one uninterrupted run (compared like resumes: see ``compare.TIMING_FIELDS``).
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from visioncircuits.reliability.compare import compare_trees
from visioncircuits.reliability.runner import cli_command, cli_env, run_subprocess

GALLERY = ("gallery", "toy-vgg-s0", "relu3", "--units", "0:4", "--steps", "8", "--size", "32", "--exact",
           "--quiet", "--link-images", "--out", "out")
# name -> the extra flags of each of the two simultaneous runs
SCENARIOS = {"two shards": (("--shard", "1/2"), ("--shard", "2/2")), "two identical runs": ((), ())}


@dataclass
class ConcurrencyResult:
    scenario: str
    codes: list = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return self.codes == [0, 0] and not self.problems


def reference(root: Path) -> Path:
    ref = root / "concurrency-reference"
    ref.mkdir(parents=True, exist_ok=True)
    res = run_subprocess(GALLERY, cwd=ref)
    if res.code != 0:
        raise RuntimeError(f"reference gallery failed: {res.stderr[-400:]}")
    return ref


def manifest_problems(out: Path, expected: list[str]) -> list[str]:
    units = [u["unit"] for u in json.loads((out / "gallery.json").read_text())["units"]]
    return [] if sorted(units) == sorted(expected) else [f"manifest lists {units}, expected {expected}"]


def run_scenario(name: str, root: Path, ref: Path) -> ConcurrencyResult:
    """Start both runs of ``name`` at once into one folder; then check the manifest and the files."""
    run_dir = root / f"concurrency-{name.replace(' ', '_')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    procs = [subprocess.Popen(cli_command() + list(GALLERY) + list(extra), cwd=run_dir, env=cli_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for extra in SCENARIOS[name]]
    result = ConcurrencyResult(name)
    for p in procs:
        _, err = p.communicate(timeout=600)
        result.codes.append(p.returncode)
        if p.returncode != 0:
            result.problems.append(f"exit {p.returncode}: {err[-300:]}")
    if result.codes == [0, 0]:
        expected = [u["unit"] for u in json.loads((ref / "out" / "gallery.json").read_text())["units"]]
        result.problems += manifest_problems(run_dir / "out", expected)
        result.problems += compare_trees(ref / "out", run_dir / "out")
    return result
