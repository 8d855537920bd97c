"""Helpers shared by the scripts/reproduce_*.py scripts: the ../shared folder and a torch.hub
cache serving its CIFAR weights with no network (the same setup as the tests' fixtures)."""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import torch

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """``$VISIONCIRCUITS_SHARED`` or ``../shared``; exits with a one-line error when absent."""
    d = Path(os.environ.get("VISIONCIRCUITS_SHARED", REPO.parent / "shared")).resolve()
    if not (d / "weights").is_dir():
        sys.exit(f"error: shared folder not found at {d} (set VISIONCIRCUITS_SHARED)")
    return d


def sample_images() -> Path:
    return shared_dir() / "data" / "imagenet-samples"


@contextlib.contextmanager
def hub_cache() -> Iterator[Path]:
    """A temporary TORCH_HOME whose hub checkpoints are symlinks to ../shared/weights; offline."""
    with tempfile.TemporaryDirectory() as home:
        ckpt = Path(home) / "hub" / "checkpoints"
        ckpt.mkdir(parents=True)
        for f in (shared_dir() / "weights").iterdir():
            (ckpt / f.name).symlink_to(f)
        old_home, old_dir = os.environ.get("TORCH_HOME"), torch.hub.get_dir()
        os.environ["TORCH_HOME"], os.environ["VISIONCIRCUITS_OFFLINE"] = home, "1"
        torch.hub.set_dir(str(Path(home) / "hub"))
        try:
            yield ckpt
        finally:
            torch.hub.set_dir(old_dir)
            if old_home is None:
                os.environ.pop("TORCH_HOME", None)
            else:
                os.environ["TORCH_HOME"] = old_home


def command() -> str:
    """The command line that ran this script, as it would be typed from the repository root."""
    return " ".join(["python", os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]])


def parse_no_options(doc: str | None) -> None:
    """For scripts that take no options: ``--help`` prints ``doc`` and exits; anything else is a usage error."""
    import argparse

    argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()


def markdown_table(table: dict) -> list[str]:
    """A results file's ``{"columns": [...], "rows": [...]}`` as markdown lines (floats with 2 decimals)."""
    out = ["| " + " | ".join(table["columns"]) + " |", "|" + "---|" * len(table["columns"])]
    fmt = lambda v: f"{v:.2f}" if isinstance(v, float) else str(v)  # noqa: E731
    return out + ["| " + " | ".join(fmt(v) for v in r) + " |" for r in table["rows"]]


def print_marked_tables(results_file: str | Path, keys: tuple[str, ...]) -> None:
    """Print ``values[key]["table"]`` of a results file for each key, under its ``<!-- results: -->`` marker."""
    import json

    values = json.loads(Path(results_file).read_text())["values"]
    for key in keys:
        print(f"<!-- results: results/{Path(results_file).name} {key}.table -->")
        print("\n".join(markdown_table(values[key]["table"])), end="\n\n")
