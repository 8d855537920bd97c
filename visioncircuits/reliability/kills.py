"""SIGKILL a long job at chosen points, resume it, and compare with an uninterrupted run.

A kill sequence starts the job, kills it (SIGKILL) when its first kill point is reached,
restarts it, kills the restarted run at the next point, and so on; the last restart runs to
the end. Kill points are read from the output folder (a file appears, or is rewritten by the
current run), so they do not depend on the machine's speed; a job without intermediate files
is killed after a delay. Every run happens in its own folder with the output at ``out``, so
recorded relative paths are the same in both runs.
"""
from __future__ import annotations

import glob
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from visioncircuits.reliability.compare import compare_trees
from visioncircuits.reliability.runner import cli_command, cli_env, run_subprocess

M = "toy-vgg-s0"


@dataclass(frozen=True)
class KillPoint:
    """Kill when ``count`` files matching ``pattern`` (relative to the run folder) exist that were
    written by the current process (``fresh``) or at all; then wait ``delay`` seconds more.
    Without a pattern: kill ``delay`` seconds after the start."""

    label: str
    pattern: Optional[str] = None
    count: int = 1
    fresh: bool = True
    delay: float = 0.0


@dataclass(frozen=True)
class Job:
    name: str
    argv: tuple[str, ...]
    points: tuple[KillPoint, ...]


# The long jobs at their smallest settings. Output always at "out" inside the run folder.
JOBS = (
    Job("gallery", ("gallery", M, "relu3", "--units", "0:4", "--steps", "8", "--size", "32", "--exact",
                    "--quiet", "--link-images", "--out", "out"),
        (KillPoint("first unit written", "out/units/*/unit.json"),
         KillPoint("a unit written after the resume", "out/units/*/unit.json"))),
    Job("sae train", ("sae", "train", M, "relu3", "--latents", "32", "--k", "4", "--toyworld", "--steps", "40",
                      "--batch-size", "256", "--checkpoint-every", "10", "--eval-images", "8", "--image-batch", "8",
                      "--threads", "1", "--no-progress", "--out", "out"),
        (KillPoint("first checkpoint", "out/checkpoint.safetensors"),
         KillPoint("a checkpoint after the resume", "out/checkpoint.safetensors"))),
    Job("toyworld train", ("toyworld", "train", "vgg", "--steps", "30", "--batch", "16", "--eval-n", "0",
                           "--checkpoint-every", "10", "--out", "out"),
        (KillPoint("first checkpoint", "out/.toy-vgg-s0.train.safetensors"),
         KillPoint("a checkpoint after the resume", "out/.toy-vgg-s0.train.safetensors", delay=0.3))),
    Job("universality", ("universality", M, "toy-vgg-s1", "--toyworld", "--n", "16", "--batch-size", "8",
                         "--featvis-steps", "0", "--no-random-null", "--permutations", "1", "--out", "out"),
        (KillPoint("4 s after the start", delay=4.0), KillPoint("6 s after the start", delay=6.0))),
    Job("demo", ("demo", "--quick", "--stages", "toyzoo", "--out", "out"),
        (KillPoint("samples written", "out/toyzoo/samples.png"),
         KillPoint("a gallery unit written", "out/toyzoo/gallery/units/*/unit.json"))),
)


def _reached(run_dir: Path, point: KillPoint, started: float) -> bool:
    if point.pattern is None:
        return time.time() - started >= point.delay
    hits = glob.glob(str(run_dir / point.pattern))
    if point.fresh:
        hits = [h for h in hits if _mtime(h) >= started]
    return len(hits) >= point.count


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return 0.0


@dataclass
class KillResult:
    job: str
    kills: list[str] = field(default_factory=list)  # labels of the points where a kill landed
    missed: list[str] = field(default_factory=list)  # points the run finished before reaching
    final_code: Optional[int] = None
    differences: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.final_code == 0 and not self.differences


def kill_at(argv: tuple[str, ...], run_dir: Path, point: KillPoint, timeout: float = 300) -> bool:
    """Start the job in ``run_dir`` and SIGKILL it at ``point``; False if it finished first."""
    started = time.time() - 0.01  # mtime resolution: files written right at the start count as fresh
    proc = subprocess.Popen(cli_command() + list(argv), cwd=run_dir, env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + timeout
    try:
        while proc.poll() is None and time.time() < deadline:
            if _reached(run_dir, point, started):
                if point.pattern is not None and point.delay:
                    time.sleep(point.delay)
                if proc.poll() is not None:
                    return False
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.02)
        return False
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def reference_run(job: Job, root: Path) -> Path:
    """The uninterrupted run's folder (``root/<job>-reference``)."""
    ref = root / f"{job.name.replace(' ', '_')}-reference"
    ref.mkdir(parents=True, exist_ok=True)
    res = run_subprocess(job.argv, cwd=ref)
    if res.code != 0:
        raise RuntimeError(f"reference run of {job.name} failed ({res.code}): {res.stderr[-500:]}")
    return ref


def kill_sequence(job: Job, root: Path, reference: Path) -> KillResult:
    """Kill the job at each of its points in turn (resuming in between), finish it, compare."""
    run_dir = root / f"{job.name.replace(' ', '_')}-killed"
    run_dir.mkdir(parents=True, exist_ok=True)
    result = KillResult(job.name)
    for point in job.points:
        (result.kills if kill_at(job.argv, run_dir, point) else result.missed).append(point.label)
    final = run_subprocess(job.argv, cwd=run_dir)
    result.final_code = final.code
    if final.code != 0:
        result.differences.append(f"resumed run failed ({final.code}): {final.stderr[-300:]}")
    else:
        result.differences = compare_trees(reference / "out", run_dir / "out")
    return result
