"""Run the CLI the way a user does (a subprocess) or fast (in-process), and judge the result.

The error contract (docs/DEVELOPING.md): a user mistake is exit code 2 with one ``error: ...``
line on stderr, never a traceback, and nothing written.
"""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence


@dataclass
class Outcome:
    """What one CLI invocation did: exit code (None: an uncaught exception), output and time."""

    code: Optional[int]
    stdout: str
    stderr: str
    seconds: float

    @property
    def traceback(self) -> bool:
        return self.code is None or "Traceback (most recent call last)" in self.stderr

    def error_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.startswith("error:")]

    def other_lines(self) -> list[str]:
        """stderr lines that are neither the error line, log records nor progress bars."""
        out = []
        for ln in self.stderr.replace("\r", "\n").splitlines():
            s = ln.strip()
            if not s or ln.startswith("error:") or s.split(" ", 1)[0] in ("WARNING", "INFO", "DEBUG"):
                continue
            if "it/s]" in s or "s/it]" in s or "%|" in s or "?it/s" in s or "batch/s" in s:
                continue
            out.append(ln)
        return out

    def clean_error(self, strict: bool = True) -> bool:
        """Exit 2, exactly one ``error:`` line, no traceback; ``strict``: nothing else on stderr
        (non-strict allows log records and progress bars printed before the error was found)."""
        if self.code != 2 or self.traceback or len(self.error_lines()) != 1:
            return False
        if strict:
            return len([ln for ln in self.stderr.splitlines() if ln.strip()]) == 1
        return not self.other_lines()

    def ok(self) -> bool:
        """Exit 0 or a clean exit 2: the two ends the contract allows."""
        return self.code == 0 or (self.code == 2 and self.clean_error(strict=False))


def run_in_process(argv: Sequence[str]) -> Outcome:
    """``visioncircuits ARGV`` through ``cli.main`` in this process (fast: models stay imported)."""
    from visioncircuits.cli import main

    out, err = io.StringIO(), io.StringIO()
    t = time.perf_counter()
    code: Optional[int]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse: --help (0) or a usage error (2)
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        except BaseException:  # noqa: BLE001 - an uncaught exception is exactly what we look for
            err.write(traceback.format_exc())
            code = None
    return Outcome(code, out.getvalue(), err.getvalue(), time.perf_counter() - t)


def cli_command() -> list[str]:
    return [sys.executable, "-m", "visioncircuits"]


def cli_env() -> dict[str, str]:
    """The environment for CLI subprocesses: this checkout first on the path, one torch thread."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_subprocess(argv: Sequence[str], cwd: Optional[Path] = None, timeout: float = 600) -> Outcome:
    """``visioncircuits ARGV`` as a user runs it (a fresh interpreter)."""
    t = time.perf_counter()
    p = subprocess.run(cli_command() + list(argv), cwd=cwd, env=cli_env(), capture_output=True, text=True,
                       errors="backslashreplace", timeout=timeout)
    return Outcome(p.returncode, p.stdout, p.stderr, time.perf_counter() - t)


def snapshot(root: Path) -> set[str]:
    """Every path under ``root`` (to prove that a refused command wrote nothing)."""
    return {os.fsdecode(os.path.relpath(os.path.join(d, f), root)) for d, ds, fs in os.walk(root) for f in fs + ds}
