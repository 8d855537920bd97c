"""The bad inputs of the sweep, one :class:`Case` per (class, command), each expected to end in
the error contract: exit code 2, one ``error:`` line, no traceback, nothing written.

``strict`` cases are refused while checking arguments, so stderr is exactly one line; the
others are found while reading a folder, after per-file warnings (logged) about what was skipped.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from visioncircuits.reliability import hostile
from visioncircuits.reliability.runner import Outcome, run_in_process, snapshot

M = "toy-vgg-s0"  # every case uses the smallest committed model
FAST = ("--steps", "2", "--quiet")


@dataclass(frozen=True)
class Case:
    """One bad invocation: its class of failure, a name, the argv and whether stderr must be one line."""

    cls: str
    name: str
    argv: tuple[str, ...]
    strict: bool = True


@dataclass
class Verdict:
    case: Case
    outcome: Outcome
    wrote: list[str]
    pickle_ran: bool

    @property
    def clean(self) -> bool:
        return self.outcome.clean_error(self.case.strict) and not self.wrote and not self.pickle_ran

    def why(self) -> str:
        if self.pickle_ran:
            return "the malicious pickle ran"
        if self.wrote:
            return f"wrote {self.wrote[:3]}"
        return f"exit {self.outcome.code}, stderr {self.outcome.stderr.strip()[-400:]!r}"


def fixtures(root: Path) -> dict[str, Path]:
    """Folders and files the cases point at (built once under ``root``)."""
    root.mkdir(parents=True, exist_ok=True)
    f = {"root": root, "bad": root / "unreadable", "empty": root / "empty", "blocker": root / "a_file",
         "evil": root / "evil.pt", "notes": root / "notes.json", "report": root / "report.json"}
    hostile.unreadable_images(f["bad"])
    f["empty"].mkdir(exist_ok=True)
    f["blocker"].write_text("x")
    hostile.malicious_pickle(f["evil"])
    f["notes"].write_text(json.dumps(["not", "an", "object"]))
    f["report"].write_text(json.dumps({"pairs": "not a list"}))
    for name, d in hostile.bad_sae_folders(root / "sae").items():
        f[f"sae_{name}"] = d
    return f


def cases(f: dict[str, Path]) -> list[Case]:
    """Every bad input of the sweep, grouped by the class of failure it belongs to."""
    r = f["root"]
    o = str(r / "out")  # must never appear
    bad, empty, blocked = str(f["bad"]), str(f["empty"]), str(f["blocker"] / "out")
    out: list[Case] = []

    def add(cls: str, name: str, *argv: str, strict: bool = True) -> None:
        out.append(Case(cls, name, tuple(argv), strict))

    # images PIL refuses (bombs, truncated, empty, text): skipped, counted, then a true error
    for cmd in (["gallery", M, "relu3", "--units", "0:1", *FAST, "--dataset", bad, "--out", o],
                ["steer", M, "relu3:0", "--alpha", "1", "--dataset", bad, "--out", o],
                ["circuit", M, "relu3:0", "--no-vis", "--dataset", bad, "--out", o],
                ["sae", "train", M, "relu3", "--latents", "8", "--k", "2", "--steps", "2", "--dataset", bad,
                 "--out", o],
                ["universality", M, "toy-vgg-s1", "--dataset", bad, "--featvis-steps", "0", "--out", o],
                ["render", M, "relu3:0", *FAST, "--colour-from", bad, "--out", o],
                ["atlas", M, "--quick", "--dataset", bad, "--out", o],
                ["demo", "--quick", "--dataset", bad, "--out", o]):
        add("unreadable images", cmd[0], *cmd, strict=False)
    for cmd in (["gallery", M, "relu3", *FAST, "--dataset", empty, "--out", o],
                ["steer", M, "relu3:0", "--alpha", "1", "--dataset", empty, "--out", o],
                ["demo", "--quick", "--dataset", empty, "--out", o]):
        add("folder without images", cmd[0], *cmd, strict=False)
    # sizes that cannot fit in memory
    for name, argv in (("render --size", ["render", M, "relu3:0", "--size", "100000", "--out", o]),
                       ("gallery --batch-size", ["gallery", M, "relu3", "--batch-size", "1000000000", "--size", "64",
                                                 "--out", o]),
                       ("atlas --size", ["atlas", M, "--size", "100000", "--out", o]),
                       ("layers --size", ["layers", M, "--size", "100000"]),
                       ("universality --n", ["universality", M, "toy-vgg-s1", "--toyworld", "--n", "1000000000",
                                             "--out", o]),
                       ("steer --n", ["steer", M, "relu3:0", "--alpha", "1", "--toyworld", "--n", "1000000000",
                                      "--out", o]),
                       ("sae --latents", ["sae", "train", M, "relu3", "--latents", "1000000000", "--k", "4",
                                          "--toyworld", "--out", o]),
                       ("toyworld sample --n", ["toyworld", "sample", "--n", "10000000000", "--out", o + ".png"]),
                       ("toyworld train --batch", ["toyworld", "train", "vgg", "--batch", "1000000000", "--out", o])):
        add("size beyond memory", name, *argv)
    # NaN, infinite, negative or zero numbers
    for name, argv in (("render --lr nan", ["render", M, "relu3:0", "--lr", "nan", "--out", o]),
                       ("render --lr -1", ["render", M, "relu3:0", "--lr", "-1", "--out", o]),
                       ("render --lr 0", ["render", M, "relu3:0", "--lr", "0", "--out", o]),
                       ("render --init-sd inf", ["render", M, "relu3:0", "--init-sd", "inf", "--out", o]),
                       ("gallery --steps -1", ["gallery", M, "relu3", "--steps", "-1", "--out", o]),
                       ("gallery --max-examples -1", ["gallery", M, "relu3", "--max-examples", "-1", "--out", o]),
                       ("gallery --k 0", ["gallery", M, "relu3", "--k", "0", "--out", o]),
                       ("sae --lr nan", ["sae", "train", M, "relu3", "--latents", "8", "--k", "2", "--toyworld",
                                         "--lr", "nan", "--out", o]),
                       ("sae --lr -0.1", ["sae", "train", M, "relu3", "--latents", "8", "--k", "2", "--toyworld",
                                          "--lr", "-0.1", "--out", o]),
                       ("sae --latents 0", ["sae", "train", M, "relu3", "--latents", "0", "--k", "2", "--toyworld",
                                            "--out", o]),
                       ("sae --k -1", ["sae", "train", M, "relu3", "--latents", "8", "--k", "-1", "--toyworld",
                                       "--out", o]),
                       ("sae --steps -5", ["sae", "train", M, "relu3", "--latents", "8", "--k", "2", "--toyworld",
                                           "--steps", "-5", "--out", o]),
                       ("steer --alpha nan", ["steer", M, "relu3:0", "--alpha", "nan", "--toyworld", "--out", o]),
                       ("circuit --share nan", ["circuit", M, "relu3:0", "--share", "nan", "--out", o]),
                       ("circuit --share 2", ["circuit", M, "relu3:0", "--share", "2", "--out", o]),
                       ("circuit --depth -1", ["circuit", M, "relu3:0", "--depth", "-1", "--out", o]),
                       ("toyworld --aux-weight nan", ["toyworld", "train", "vgg", "--aux-weight", "nan", "--out", o]),
                       ("toyworld --steps -3", ["toyworld", "train", "vgg", "--steps", "-3", "--out", o]),
                       ("universality --n -1", ["universality", M, "toy-vgg-s1", "--toyworld", "--n", "-1",
                                                "--out", o]),
                       ("universality --seed -1", ["universality", M, "toy-vgg-s1", "--toyworld", "--seed", "-1",
                                                   "--out", o])):
        add("bad number", name, *argv)
    # cfg.json of the wrong shape or types, where an SAE folder is read
    for key in hostile.BAD_SAE_CONFIGS:
        add("bad cfg.json", f"sae eval {key}", "sae", "eval", M, str(f[f"sae_{key}"]), "--toyworld")
    for key in ("list", "d_in_text", "layer_number"):
        d = str(f[f"sae_{key}"])
        add("bad cfg.json", f"render sae {key}", "render", M, f"sae:{d}:0", *FAST, "--out", o)
        add("bad cfg.json", f"gallery sae {key}", "gallery", M, f"sae:{d}", *FAST, "--out", o)
        add("bad cfg.json", f"atlas --sae {key}", "atlas", M, "--quick", "--sae", d, "--out", o)
        add("bad cfg.json", f"sae export {key}", "sae", "export", d, "--out", o)
    add("bad cfg.json", "gallery --notes list", "gallery", M, "relu3", *FAST, "--notes", str(f["notes"]), "--out", o)
    add("bad cfg.json", "atlas --universality", "atlas", M, "--quick", "--universality", str(f["report"]),
        "--out", o)
    # empty strings
    for name, argv in (("gallery --units ''", ["gallery", M, "relu3", "--units", "", "--out", o]),
                       ("gallery --out ''", ["gallery", M, "relu3", "--out", ""]),
                       ("render --out ''", ["render", M, "relu3:0", "--out", ""]),
                       ("render unit ''", ["render", M, "", "--out", o]),
                       ("steer --out ''", ["steer", M, "relu3:0", "--alpha", "1", "--toyworld", "--out", ""]),
                       ("circuit --out ''", ["circuit", M, "relu3:0", "--out", ""]),
                       ("sae train --out ''", ["sae", "train", M, "relu3", "--latents", "8", "--k", "2", "--toyworld",
                                               "--out", ""]),
                       ("universality --out ''", ["universality", M, "toy-vgg-s1", "--toyworld", "--out", ""]),
                       ("atlas --units ''", ["atlas", M, "--units", "", "--out", o]),
                       ("demo --out ''", ["demo", "--out", ""]),
                       ("gallery --dataset ''", ["gallery", M, "relu3", "--dataset", "", "--out", o])):
        add("empty string", name, *argv)
    # duplicate units, layers and models
    for name, argv in (("render twice", ["render", M, "relu3:1", "relu3:1", "--out", o]),
                       ("gallery --units 1,1", ["gallery", M, "relu3", "--units", "1,1", *FAST, "--out", o]),
                       ("gallery --units 0:3,2", ["gallery", M, "relu3", "--units", "0:3,2", *FAST, "--out", o]),
                       ("gallery --units 5:3", ["gallery", M, "relu3", "--units", "5:3", *FAST, "--out", o]),
                       ("universality same model", ["universality", M, M, "--toyworld", "--out", o]),
                       ("atlas --layers twice", ["atlas", M, "--layers", "relu3", "relu3", "--out", o]),
                       ("circuit --layers twice", ["circuit", M, "relu3:0", "--layers", "relu2", "relu2", "--out", o])):
        add("duplicate", name, *argv)
    # an --out that cannot be written, caught before any work
    for name, argv in (("gallery", ["gallery", M, "relu3", *FAST, "--out", blocked]),
                       ("render", ["render", M, "relu3:0", *FAST, "--out", blocked]),
                       ("steer", ["steer", M, "relu3:0", "--alpha", "1", "--toyworld", "--out", blocked]),
                       ("circuit", ["circuit", M, "relu3:0", "--out", blocked]),
                       ("sae train", ["sae", "train", M, "relu3", "--latents", "8", "--k", "2", "--toyworld",
                                      "--out", blocked]),
                       ("universality", ["universality", M, "toy-vgg-s1", "--toyworld", "--out", blocked]),
                       ("atlas", ["atlas", M, "--quick", "--out", blocked]),
                       ("toyworld train", ["toyworld", "train", "vgg", "--out", blocked]),
                       ("toyworld sample", ["toyworld", "sample", "--out", blocked + ".png"]),
                       ("demo", ["demo", "--quick", "--out", blocked]),
                       ("sae eval --json", ["sae", "eval", M, str(f["sae_list"]), "--json", blocked + ".json"]),
                       ("bench --out", ["bench", "toyworld", "--out", blocked + ".json"])):
        add("unwritable --out", name, *argv)
    # malicious pickles given as weights: refused, never run
    for name, argv in (("render", ["render", M, "relu3:0", "--weights", str(f["evil"]), *FAST, "--out", o]),
                       ("gallery", ["gallery", M, "relu3", "--weights", str(f["evil"]), *FAST, "--out", o]),
                       ("steer", ["steer", M, "relu3:0", "--alpha", "1", "--toyworld", "--weights", str(f["evil"]),
                                  "--out", o]),
                       ("toyworld eval", ["toyworld", "eval", M, "--weights", str(f["evil"])]),
                       ("layers", ["layers", M, "--weights", str(f["evil"])])):
        add("malicious pickle", name, *argv)
    return out


def judge(case: Case, root: Path) -> Verdict:
    """Run one case in-process and check the contract (exit 2, one line, nothing written, pickle not run)."""
    before = snapshot(root)
    outcome = run_in_process(case.argv)
    wrote = sorted(snapshot(root) - before)
    pickle_ran = any(p.name == hostile.MARKER for p in root.rglob(hostile.MARKER))
    return Verdict(case, outcome, wrote, pickle_ran)
