"""``visioncircuits bench reliability``: the reliability sweep at small scale, as counts.

Three figures, each from the same cases the ``tests/reliability`` suite asserts on:
- kills: every long job (smallest settings) SIGKILLed at two points, the second during the
  resumed run; "held" = the resumed output equals an uninterrupted run's;
- bad inputs: every case of ``reliability.bad_inputs`` over every command; "held" = exit 2,
  one ``error:`` line, no traceback, nothing written (and the malicious pickle never ran);
- concurrency: two shards, and two identical runs, into one folder at once; "held" = both
  finish, the manifest lists every unit once and the files equal one run's.
"""
from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

DESCRIPTION = "reliability sweep: SIGKILL + resume of every long job, bad inputs, concurrent runs (counts)"
PARTS = ("kills", "bad-inputs", "concurrency")

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS,
                        help="which parts of the sweep to run (default: all)")
    parser.add_argument("--workdir", default=None, metavar="DIR",
                        help="scratch folder for the runs (default: a temporary folder, removed afterwards)")


def _kills(root: Path) -> list[dict]:
    from visioncircuits.reliability.kills import JOBS, kill_sequence, reference_run

    rows = []
    for job in JOBS:
        res = kill_sequence(job, root, reference_run(job, root))
        if res.differences:
            log.warning("%s: resumed output differs: %s", job.name, res.differences[:5])
        rows.append({"sweep": "SIGKILL, then resume", "case": job.name, "tried": len(res.kills),
                     "held": len(res.kills) if res.identical else 0})
    return rows


def _bad_inputs(root: Path) -> list[dict]:
    from visioncircuits.reliability.bad_inputs import cases, fixtures, judge

    f = fixtures(root / "bad_inputs")
    counts: dict[str, list[int]] = {}
    for case in cases(f):
        verdict = judge(case, f["root"])
        if not verdict.clean:
            log.warning("bad input %s / %s: %s", case.cls, case.name, verdict.why())
        c = counts.setdefault(case.cls, [0, 0])
        c[0] += 1
        c[1] += int(verdict.clean)
    return [{"sweep": "bad input: exit 2, one line, nothing written", "case": cls, "tried": n, "held": ok}
            for cls, (n, ok) in counts.items()]


def _concurrency(root: Path) -> list[dict]:
    from visioncircuits.reliability.concurrency import SCENARIOS, reference, run_scenario

    ref = reference(root)
    rows = []
    for name in SCENARIOS:
        res = run_scenario(name, root, ref)
        if res.problems:
            log.warning("concurrency %s: %s", name, res.problems[:5])
        rows.append({"sweep": "concurrent runs into one folder", "case": name, "tried": 1, "held": int(res.consistent)})
    return rows


def totals(rows: list[dict]) -> list[dict]:
    """One row per sweep: the README's figures."""
    out: dict[str, dict] = {}
    for r in rows:
        t = out.setdefault(r["sweep"], {"sweep": r["sweep"], "case": "all", "tried": 0, "held": 0})
        t["tried"] += r["tried"]
        t["held"] += r["held"]
    return list(out.values())


def run(args: argparse.Namespace) -> list[dict]:
    runners = {"kills": _kills, "bad-inputs": _bad_inputs, "concurrency": _concurrency}
    with tempfile.TemporaryDirectory(prefix="vc-reliability-") as tmp:
        root = Path(args.workdir) if args.workdir else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        rows: list[dict] = []
        for part in PARTS:
            if part in args.parts:
                rows += runners[part](root / part)
    return rows + totals(rows)
