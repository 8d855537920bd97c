"""Argument checks every command shares, run on the parsed flags before any command starts.

Each command still checks its own meaning (``--k`` at most ``--latents`` ...); what is the same
everywhere lives here, once, so that no command can forget it: numbers must be finite and in
range, strings non-empty, lists without repeats, ``--out`` writable, sizes within memory.
A failure is one :class:`InputError` line (exit code 2) and nothing has been written yet.
"""
from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Any, Iterator, Optional

from visioncircuits.errors import InputError

INT64_MAX = 2**63 - 1
# Float options that must be > 0 (a learning rate of 0 or less never trains).
POSITIVE_FLOATS = {"lr"}
# Float options that must lie in [0, 1].
FRACTIONS = {"share", "isolated_fraction"}
# Float options where a negative value means something (steering subtracts).
SIGNED_FLOATS = {"alpha"}
# Output options that name a file, not a folder (by dest; plus (command, dest) pairs below).
FILE_OUTPUTS = {"json_out", "results_out"}
FILE_OUT_COMMANDS = {("toyworld", "sample"), ("zoo", "import-tflite")}
# Bytes a forward + backward pass holds per input byte, roughly (activations and their
# gradients of every layer). A deliberately generous estimate: it only has to refuse sizes that
# cannot fit anywhere (``--size 100000``), never ordinary ones.
ACTIVATION_FACTOR = 32


def leaf_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[argparse.ArgumentParser, list[str]]:
    """The (sub)parser that parsed ``args`` and the command words leading to it."""
    words: list[str] = []
    while True:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            return parser, words
        word = getattr(args, subs[0].dest, None)
        if word is None or word not in subs[0].choices:
            return parser, words
        words.append(word)
        parser = subs[0].choices[word]


def flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """dest -> how the user typed it (``--batch-size``, or the positional's metavar)."""
    names: dict[str, str] = {}
    for a in parser._actions:
        if a.option_strings:
            longs = [s for s in a.option_strings if s.startswith("--")]
            names[a.dest] = (longs or a.option_strings)[0]
        elif a.dest not in (argparse.SUPPRESS, "help"):
            names[a.dest] = str(a.metavar or a.dest).upper()
    return names


def _values(value: Any) -> Iterator[Any]:
    if isinstance(value, (list, tuple)):
        yield from value
    else:
        yield value


# List options where a repeat is meaningful (universality: one layer SPEC per model, e.g. `main main`).
REPEATS_ALLOWED = {"layers"}


def check_values(dest: str, flag: str, value: Any, repeats: bool = False) -> None:
    """One option's generic rules (finite numbers, ranges, non-empty text, no repeats)."""
    if isinstance(value, (list, tuple)) and not repeats:
        texts = [v for v in value if isinstance(v, str)]
        seen = set()
        for t in texts:
            if t in seen:
                raise InputError(f"{flag}: {t!r} is given twice")
            seen.add(t)
    for v in _values(value):
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int):
            if v < 0:
                raise InputError(f"{flag} must be >= 0, got {v}")
            if v > INT64_MAX:
                raise InputError(f"{flag} must be at most {INT64_MAX}, got {v}")
        elif isinstance(v, float):
            if not math.isfinite(v):
                raise InputError(f"{flag} must be a finite number, got {v}")
            if dest in POSITIVE_FLOATS and v <= 0:
                raise InputError(f"{flag} must be positive, got {v}")
            if dest in FRACTIONS and not 0 <= v <= 1:
                raise InputError(f"{flag} must be between 0 and 1, got {v}")
            if dest not in SIGNED_FLOATS and v < 0:
                raise InputError(f"{flag} must be >= 0, got {v}")
        elif isinstance(v, str) and not v.strip():
            raise InputError(f"{flag} must not be empty")


def check_writable(flag: str, value: str, is_file: bool) -> None:
    """Refuse an output path that cannot be created, before any work (not after rendering)."""
    p = Path(value)
    if p.exists():
        if is_file and p.is_dir():
            raise InputError(f"{flag} {value} is a folder, expected a file name")
        if not is_file and not p.is_dir():
            raise InputError(f"{flag} {value} is a file, not a folder")
        target = p if p.is_dir() else p.parent
    else:
        target = p.parent if str(p.parent) else Path(".")
        while not target.exists() and target != target.parent:
            target = target.parent
        if not target.is_dir():
            raise InputError(f"{flag} {value}: cannot create it, {target} is a file")
    if not os.access(target, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {value}: no permission to write in {target}")


def total_memory_bytes() -> Optional[int]:
    """This machine's RAM (None where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(what: str, n_bytes: float, hint: str) -> None:
    """Refuse work whose estimated memory exceeds the machine's RAM, before allocating it."""
    total = total_memory_bytes()
    if total is not None and n_bytes > total:
        raise InputError(f"{what} needs about {n_bytes / 2**30:,.0f} GiB of memory, more than this machine's "
                         f"{total / 2**30:,.0f} GiB; {hint}")


def image_bytes(size: int, n: int = 1, factor: int = 1) -> float:
    """Bytes of ``n`` float32 RGB images of side ``size`` (times ``factor``)."""
    return float(n) * 3 * float(size) ** 2 * 4 * factor


# Options whose images are all held in memory at once: (command words, dest) -> image side (None: --size or 224).
HELD_IMAGES = {(("steer",), "n"): None, (("universality",), "n"): None, (("circuit",), "n_images"): None,
               (("toyworld", "sample"), "n"): 64, (("toyworld", "eval"), "n"): 64}


def check_sizes(args: argparse.Namespace, words: tuple[str, ...]) -> None:
    """Image sizes, batch sizes and image counts that cannot fit in memory (estimated, before allocating)."""
    size = getattr(args, "size", None)
    size = size if isinstance(size, int) and size > 0 else None
    batch = getattr(args, "batch_size", None)
    batch = batch if isinstance(batch, int) and batch > 0 else 1
    if size is not None:
        check_fits(f"--size {size} with a batch of {batch}", image_bytes(size, batch, ACTIVATION_FACTOR),
                   "lower --size or --batch-size")
    for (cmd, dest), side in HELD_IMAGES.items():
        n = getattr(args, dest, None)
        if words[:len(cmd)] == cmd and isinstance(n, int):
            flag = "--" + dest.replace("_", "-")
            check_fits(f"{flag} {n} images", image_bytes(side or size or 224, n), f"lower {flag}")
    for dest in ("batch", "image_batch", "batch_size"):
        n = getattr(args, dest, None)
        if isinstance(n, int) and not (dest == "batch_size" and hasattr(args, "latents")):
            flag = "--" + dest.replace("_", "-")
            check_fits(f"{flag} {n}", image_bytes(size or 224, n, ACTIVATION_FACTOR), f"lower {flag}")
    latents = getattr(args, "latents", None)
    if isinstance(latents, int) and isinstance(getattr(args, "batch_size", None), int):
        # one step holds the (batch, d_sae) latent codes several times (pre-activations, codes, grads)
        check_fits(f"--latents {latents} with --batch-size {args.batch_size}",
                   4.0 * latents * args.batch_size * 4, "lower --latents or --batch-size")


def validate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Every generic check on the parsed flags; raises one :class:`InputError` on the first failure."""
    leaf, words = leaf_parser(parser, args)
    names = {**flag_names(parser), **flag_names(leaf)}
    for dest, value in vars(args).items():
        if dest in names and not callable(value):
            check_values(dest, names[dest], value, repeats=dest in REPEATS_ALLOWED and words[:1] == ["universality"])
    check_sizes(args, tuple(words))
    command = tuple(words[:2])
    for dest in ("out", "json_out", "results_out"):
        value = getattr(args, dest, None)
        if isinstance(value, str) and dest in names:
            check_writable(names[dest], value, dest in FILE_OUTPUTS or command in FILE_OUT_COMMANDS)
