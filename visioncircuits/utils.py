"""Small helpers every part needs, written once: file-name slugs, one-line error text, seeds.

They were copied into five modules before; keeping one definition means a file written by
``gallery`` and one looked up by ``universality`` agree on the name of the same unit.
"""
from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def slug(text: str, max_len: int | None = None, default: str = "") -> str:
    """A file-name-safe form of ``text``: runs of other characters become ``_``.

    Leading/trailing underscores are stripped; ``max_len`` truncates; an empty result becomes
    ``default``.

    Examples:
        >>> slug("sae:runs/sae mixed3b:7@2,3")
        'sae_runs_sae_mixed3b_7_2_3'
        >>> slug("///", default="unit")
        'unit'
    """
    out = _UNSAFE.sub("_", str(text)).strip("_")
    if max_len is not None:
        out = out[:max_len]
    return out or default


def first_line(error: BaseException | str, max_len: int | None = None) -> str:
    """The first non-empty line of an exception's message (its type name if it has none).

    Library errors wrap third-party exceptions in one line; their multi-line messages would
    break the CLI's one-line-error contract.
    """
    text = str(error).strip()
    if not text:
        return type(error).__name__ if isinstance(error, BaseException) else ""
    line = text.splitlines()[0]
    return line[:max_len] if max_len is not None else line


def derive_seed(seed: int, offset: int = 0, stride: int = 7919) -> int:
    """A child seed for item ``offset`` of a run seeded with ``seed``: ``seed * stride + offset``.

    Chunks of a render (``offset`` = first image index) and shards of a stream get different,
    reproducible random streams; ``stride`` is a prime larger than any chunk offset in use.
    """
    return int(seed) * int(stride) + int(offset)
