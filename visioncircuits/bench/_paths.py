"""The photo folder a benchmark reads: ``--dataset``, else ``$VISIONCIRCUITS_SHARED`` or ``../shared``."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from visioncircuits.errors import InputError


def add_dataset_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default=None,
                   help="photo folder (default: $VISIONCIRCUITS_SHARED/data/imagenet-samples or ../shared/...)")


def dataset_folder(args: argparse.Namespace) -> Path:
    """The folder, checked to exist (a missing one is a one-line error)."""
    shared = Path(os.environ.get("VISIONCIRCUITS_SHARED", Path.cwd().parent / "shared"))
    folder = Path(args.dataset) if args.dataset else shared / "data" / "imagenet-samples"
    if not folder.is_dir():
        raise InputError(f"photo folder not found: {folder} (give --dataset DIR)")
    return folder
