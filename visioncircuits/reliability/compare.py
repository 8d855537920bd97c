"""Are two output folders the same result? Byte-identical files, or equal values where a file
also records how long the run took.

The fields allowed to differ are listed here, once: everything else must match exactly
(JSON values, tensors bit for bit, images byte for byte, pages text for text).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

# JSON keys (at any depth) and safetensors metadata keys that record timing, not results.
TIMING_FIELDS = frozenset({
    "seconds", "cpu_seconds", "wall_seconds", "train_seconds", "elapsed", "elapsed_seconds",
    "samples_per_second", "images_per_second", "render_seconds", "time", "timestamp", "started", "finished_at",
})
# Text (HTML, Markdown) runs that state a duration: "12.3 s", "4 s CPU", "1.2 seconds", "(3.4 s)".
TIMING_TEXT = re.compile(r"\d+(?:[.,]\d+)?\s?(?:s|seconds|sec|min)\b")


def _strip(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in TIMING_FIELDS}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _json_equal(a: Path, b: Path) -> bool:
    return _strip(json.loads(a.read_text())) == _strip(json.loads(b.read_text()))


def _safetensors_equal(a: Path, b: Path) -> bool:
    from safetensors import safe_open

    with safe_open(str(a), "pt") as fa, safe_open(str(b), "pt") as fb:
        if sorted(fa.keys()) != sorted(fb.keys()):
            return False
        for k in fa.keys():
            if not fa.get_tensor(k).equal(fb.get_tensor(k)):
                return False
        ma, mb = fa.metadata() or {}, fb.metadata() or {}
    return _meta(ma) == _meta(mb)


def _meta(m: dict) -> dict:
    out = {}
    for k, v in m.items():
        if k in TIMING_FIELDS:
            continue
        try:
            out[k] = _strip(json.loads(v))
        except (json.JSONDecodeError, TypeError):
            out[k] = v
    return out


def _text_equal(a: Path, b: Path) -> bool:
    ta, tb = a.read_text(errors="replace"), b.read_text(errors="replace")
    return ta == tb or TIMING_TEXT.sub("<t>", ta) == TIMING_TEXT.sub("<t>", tb)


def files_equal(a: Path, b: Path) -> bool:
    """One file pair, by kind: JSON values, tensors, text without durations, else bytes."""
    if a.read_bytes() == b.read_bytes():
        return True
    suffix = a.suffix.lower()
    if suffix == ".json":
        return _json_equal(a, b)
    if suffix == ".safetensors":
        return _safetensors_equal(a, b)
    if suffix in (".html", ".md", ".txt", ".js"):
        return _text_equal(a, b)
    return False


def tree(root: Path) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs}


def compare_trees(reference: Path, other: Path) -> list[str]:
    """Differences between two output folders (empty: the same result)."""
    if not other.is_dir():
        return [f"{other} missing"]
    ra, rb = tree(reference), tree(other)
    diffs = [f"only in the uninterrupted run: {p}" for p in sorted(ra - rb)]
    diffs += [f"only in the resumed run: {p}" for p in sorted(rb - ra)]
    diffs += [f"differs: {p}" for p in sorted(ra & rb) if not files_equal(reference / p, other / p)]
    return diffs
