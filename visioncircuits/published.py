"""Docs <-> results files: find the numbers a doc quotes and the results values behind them.

Shared by ``tests/test_published_numbers.py`` (checks that README.md and docs/readme/*.md agree
with ``results/``) and ``scripts/update_published_numbers.py`` (rewrites the quoted numbers and
marked tables from ``results/`` after a re-measurement). The conventions are in
docs/DEVELOPING.md ("Published numbers").
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs" / "readme").glob("*.md"))]
MAPPING = ROOT / "docs" / "published_numbers.json"
TOKEN = re.compile(
    r"(?P<num>(?<![\w.])-?\d+(?:\.\d+)?e[-+]?\d+)"  # 3.5e-05
    r"|(?P<name>[A-Za-z_][\w\-]*\d[\w\-]*)"  # toy-vgg-s0, mixed3b, layer3.2, k1: not numbers
    r"|(?P<n2>(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.])-?\d+(?:\.\d+)?)"
)
MARKER = re.compile(r"<!--\s*results:\s*(\S+)\s+(\S+)\s*-->")
NOT_MEASURED = re.compile(r"<!--\s*not-measured:")


def numbers(text: str) -> list[str]:
    """Decimal numbers in ``text`` (thousands separators allowed), not the digits inside names."""
    text = re.sub(r"`[^`]*`", " ", text)  # code, names and settings are not measurements
    return [m.group(0) for m in TOKEN.finditer(text) if not m.group("name")]


def agrees(shown: str, value: float) -> bool:
    """``shown`` is ``value`` rounded to the digits printed (half a unit of the last digit)."""
    shown = shown.replace(",", "")
    mantissa, _, exponent = shown.partition("e")
    digits = (len(mantissa.split(".")[1]) if "." in mantissa else 0) - int(exponent or 0)
    return abs(float(shown) - float(value)) <= 0.5 * 10**-digits * (1 + 1e-9) + 1e-12


def lookup(ref: str):
    """``FILE.json:dotted.path[|min|max][*factor]`` -> the value under ``values`` in results/FILE.json
    (or the file's top level when it has no ``values``); a ``*`` path part takes every entry,
    which ``|min`` / ``|max`` reduce (``toy_zoo.json:models.*.accuracy|min``)."""
    factor, reduce = 1.0, None
    m = re.search(r"\*(\d+(?:\.\d+)?)$", ref)
    if m:
        ref, factor = ref[: m.start()], float(m.group(1))
    m = re.search(r"\|(min|max)$", ref)  # a reduce; other "|" belong to keys ("model|layer|config")
    if m:
        ref, reduce = ref[: m.start()], m.group(1)
    file, _, path = ref.partition(":")
    data = json.loads((ROOT / "results" / file).read_text())
    nodes = [data["values"] if isinstance(data, dict) and "values" in data else data]
    parts = path.split(".") if path else []
    while parts:
        part = parts.pop(0)
        while (
            part != "*" and parts and all(isinstance(n, dict) and part not in n for n in nodes)
        ):  # keys with dots: "fft-24-sd0.5"
            part += "." + parts.pop(0)
        if part == "*":
            nodes = [x for n in nodes for x in (n.values() if isinstance(n, dict) else n)]
        else:
            nodes = [n[int(part)] if isinstance(n, list) else n[part] for n in nodes]
    value = {"min": min, "max": max, None: lambda xs: xs[0]}[reduce](nodes)
    return value * factor if factor != 1.0 else value


def doc_tables(text: str):
    """(line number, marker match or None, not-measured?, header cells, body rows) per markdown table."""
    lines = text.splitlines()
    i, in_code = 0, False
    while i < len(lines):
        if lines[i].lstrip().startswith("```"):
            in_code = not in_code
        if (
            not in_code
            and lines[i].startswith("|")
            and i + 1 < len(lines)
            and re.match(r"^\|[\s\-:|]+\|\s*$", lines[i + 1])
        ):
            j = i + 2
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            back = i - 1
            while back >= 0 and not lines[back].strip():
                back -= 1
            prev = lines[back] if back >= 0 else ""
            cells = lambda line: [c.strip() for c in line.strip().strip("|").split("|")]
            yield (
                i + 1,
                MARKER.search(prev),
                bool(NOT_MEASURED.search(prev)),
                cells(lines[i]),
                [cells(r) for r in lines[i + 2 : j]],
            )
            i = j
            continue
        i += 1


def clean(cell: str) -> str:
    return cell.replace("**", "").strip()


def table_rows(file: str, key: str, header: list[str]) -> tuple[list[str], list[list]]:
    """(columns, rows of expected cell values) of the table a marker names, for a doc table with ``header``."""
    table = lookup(f"{file[len('results/') :]}:{key}")
    if isinstance(table, list):  # rows as dicts: the doc's headers are their keys
        keys = [clean(h).strip("`") for h in header]
        missing = [k for k in keys if k not in table[0]]
        if missing:
            raise KeyError(f"{file} {key}: no column(s) {missing}")
        return header, [[r.get(k) for k in keys] for r in table]
    return table["columns"], table["rows"]
