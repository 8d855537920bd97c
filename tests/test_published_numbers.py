"""The numbers in README.md and docs/readme/*.md agree with the committed results files.

Two ways a doc quotes a results file (see results/README.md):
- a table preceded by ``<!-- results: results/FILE.json KEY -->``: the table must equal the
  table stored at KEY (``{"columns": [...], "rows": [[...]]}`` or a list of row dicts whose
  keys are the doc's column headers), numbers compared after rounding to the digits shown;
- a sentence listed in ``docs/published_numbers.json``: the doc contains the text verbatim, and
  the numbers in it, in order, equal the listed results values after rounding (``null`` marks
  a number that is a setting, not a measurement).
And every table in the docs holding a measured-looking number (a decimal or a percentage)
carries a results marker or says ``<!-- not-measured: why -->``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs" / "readme").glob("*.md"))]
MAPPING = REPO / "docs" / "published_numbers.json"
TOKEN = re.compile(r"(?P<num>(?<![\w.])-?\d+(?:\.\d+)?e[-+]?\d+)"  # 3.5e-05
                   r"|(?P<name>[A-Za-z_][\w\-]*\d[\w\-]*)"  # toy-vgg-s0, mixed3b, layer3.2, k1: not numbers
                   r"|(?P<n2>(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.])-?\d+(?:\.\d+)?)")
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
    return abs(float(shown) - float(value)) <= 0.5 * 10 ** -digits * (1 + 1e-9) + 1e-12


def lookup(ref: str):
    """``FILE.json:dotted.path[|min|max][*factor]`` -> the value under ``values`` in results/FILE.json
    (or the file's top level when it has no ``values``); a ``*`` path part takes every entry,
    which ``|min`` / ``|max`` reduce (``toy_zoo.json:models.*.accuracy|min``)."""
    factor, reduce = 1.0, None
    m = re.search(r"\*(\d+(?:\.\d+)?)$", ref)
    if m:
        ref, factor = ref[:m.start()], float(m.group(1))
    if "|" in ref:
        ref, reduce = ref.split("|")
    file, _, path = ref.partition(":")
    data = json.loads((REPO / "results" / file).read_text())
    nodes = [data["values"] if isinstance(data, dict) and "values" in data else data]
    for part in path.split(".") if path else []:
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
        if not in_code and lines[i].startswith("|") and i + 1 < len(lines) and re.match(r"^\|[\s\-:|]+\|\s*$", lines[i + 1]):
            j = i + 2
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            back = i - 1
            while back >= 0 and not lines[back].strip():
                back -= 1
            prev = lines[back] if back >= 0 else ""
            cells = lambda line: [c.strip() for c in line.strip().strip("|").split("|")]
            yield i + 1, MARKER.search(prev), bool(NOT_MEASURED.search(prev)), cells(lines[i]), [cells(r) for r in lines[i + 2:j]]
            i = j
            continue
        i += 1


def clean(cell: str) -> str:
    return cell.replace("**", "").strip()


def check_cell(doc: str, expected, where: str) -> None:
    doc = clean(doc)
    if expected is None or expected == "":
        assert doc in ("", "-"), f"{where}: expected an empty cell, doc has {doc!r}"
    elif isinstance(expected, bool) or isinstance(expected, str):
        assert doc == str(expected), f"{where}: doc {doc!r} != results {expected!r}"
    elif isinstance(expected, (int, float)):
        shown = numbers(doc)
        assert len(shown) == 1 and agrees(shown[0], expected), f"{where}: doc {doc!r} != results {expected!r}"
    elif isinstance(expected, list):
        shown = numbers(doc)
        assert len(shown) == len(expected) and all(agrees(s, e) for s, e in zip(shown, expected)), \
            f"{where}: doc {doc!r} != results {expected!r}"
    else:
        raise AssertionError(f"{where}: unsupported results cell {expected!r}")


MARKED = [(doc, line, m.group(1), m.group(2), header, body)
          for doc in DOCS for line, m, _, header, body in doc_tables(doc.read_text()) if m]


@pytest.mark.parametrize("doc, line, file, key, header, body", MARKED,
                         ids=[f"{d.name}:{line}" for d, line, *_ in MARKED])
def test_marked_table_equals_its_results_file(doc, line, file, key, header, body):
    assert file.startswith("results/") and (REPO / file).exists(), f"{doc.name}:{line}: no results file {file}"
    table = lookup(f"{file[len('results/'):]}:{key}")
    if isinstance(table, list):  # rows as dicts: the doc's headers are their keys
        columns, rows = header, [[r.get(clean(h).strip("`")) for h in header] for r in table]
        assert all(clean(h).strip("`") in table[0] for h in header), f"{doc.name}:{line}: unknown columns {header}"
    else:
        columns, rows = table["columns"], table["rows"]
        assert [clean(h) for h in header] == columns, f"{doc.name}:{line}: header {header} != {columns}"
    assert len(body) == len(rows), f"{doc.name}:{line}: {len(body)} rows in the doc, {len(rows)} in {file}"
    for r, (doc_row, row) in enumerate(zip(body, rows)):
        assert len(doc_row) == len(row), f"{doc.name}:{line + 2 + r}: {len(doc_row)} cells, expected {len(row)}"
        for c, (cell, expected) in enumerate(zip(doc_row, row)):
            check_cell(cell, expected, f"{doc.name}:{line + 2 + r} column {columns[c]!r}")


ENTRIES = json.loads(MAPPING.read_text())


@pytest.mark.parametrize("entry", ENTRIES, ids=[f"{e['doc']}:{e['text'][:40]}" for e in ENTRIES])
def test_quoted_numbers_equal_their_results(entry):
    text = (REPO / entry["doc"]).read_text()
    flat = " ".join(text.split())
    assert entry["text"] in flat, f"{entry['doc']} no longer says: {entry['text']!r}"
    shown = numbers(entry["text"])
    assert len(shown) == len(entry["values"]), f"{entry['text']!r}: {len(shown)} numbers {shown}, {len(entry['values'])} results keys"
    for s, ref in zip(shown, entry["values"]):
        if ref is not None:
            assert agrees(s, lookup(ref)), f"{entry['doc']}: {entry['text']!r} shows {s}, results {ref} = {lookup(ref)}"


# Tables being re-measured in parallel work, by the first cell of their header row; each entry says
# who owns it. Remove an entry when its table gets a results marker.
PENDING = {
    ("circuits.md", "measure"): "bench circuits: i13-vis re-times it against captum.optim's real algorithm",
}


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_every_measured_table_names_its_results(doc):
    text = doc.read_text()
    for line, marker, not_measured, header, body in doc_tables(text):
        if (doc.name, clean(header[0])) in PENDING:
            continue
        measured = any(re.search(r"\d\.\d|\d\s?%", re.sub(r"`[^`]*`", "", cell)) for row in body for cell in row)
        assert marker or not_measured or not measured, \
            f"{doc.name}:{line}: a table of measured numbers needs <!-- results: results/FILE.json KEY --> above it"


def test_every_results_file_says_how_it_was_made():
    referenced = {m.group(1) for d in DOCS for m in MARKER.finditer(d.read_text())}
    referenced |= {"results/" + ref.split(":")[0] for e in ENTRIES for ref in e["values"] if ref}
    for file in sorted(referenced):
        data = json.loads((REPO / file).read_text())
        runtime = next((data.get(k) for k in ("wall_seconds", "seconds", "cpu_seconds") if data.get(k) is not None), None)
        assert data.get("command") and runtime is not None, f"{file}: no command or runtime"


def test_the_docs_name_the_command_behind_each_results_file():
    text = "\n".join(d.read_text() for d in DOCS)
    referenced = {m.group(1) for m in MARKER.finditer(text)} | {"results/" + ref.split(":")[0] for e in ENTRIES for ref in e["values"] if ref}
    for file in sorted(referenced):
        cmd = json.loads((REPO / file).read_text())["command"]
        script = next((w for w in cmd.split() if w.startswith("scripts/")), None)
        assert (script or " ".join(cmd.split()[:3])) in text, f"no doc names the command behind {file}: {cmd}"


@pytest.mark.parametrize("shown, value, ok", [("76.9", 0.769 * 100, True), ("0.94", 0.9409, True), ("0.94", 0.946, False),
                                              ("85,389", 85389.2, True), ("40", 40, True), ("41", 40, False), ("1.00", 0.9951, True),
                                              ("3.5e-05", 3.46e-5, True), ("3.5e-05", 3.4e-5, False)])
def test_rounding_rule(shown, value, ok):
    assert agrees(shown, value) is ok


def test_numbers_skip_names_and_code():
    assert numbers("toy-vgg-s0 at 99.75 % in `--steps 800`, layer3.2: 1,024 latents, L0 16, 3.5e-05") == ["99.75", "1,024", "16", "3.5e-05"]
