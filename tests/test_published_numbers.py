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

from visioncircuits.published import (
    DOCS,
    MAPPING,
    MARKER,
    agrees,
    clean,
    doc_tables,
    lookup,
    numbers,
    table_rows,
)

REPO = Path(__file__).resolve().parents[1]


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
        assert len(shown) == len(expected) and all(agrees(s, e) for s, e in zip(shown, expected)), (
            f"{where}: doc {doc!r} != results {expected!r}"
        )
    else:
        raise AssertionError(f"{where}: unsupported results cell {expected!r}")


MARKED = [
    (doc, line, m.group(1), m.group(2), header, body)
    for doc in DOCS
    for line, m, _, header, body in doc_tables(doc.read_text())
    if m
]


@pytest.mark.parametrize(
    "doc, line, file, key, header, body", MARKED, ids=[f"{d.name}:{line}" for d, line, *_ in MARKED]
)
def test_marked_table_equals_its_results_file(doc, line, file, key, header, body):
    assert file.startswith("results/") and (REPO / file).exists(), f"{doc.name}:{line}: no results file {file}"
    columns, rows = table_rows(file, key, header)
    assert [clean(h) for h in header] == [clean(c) for c in columns], f"{doc.name}:{line}: header {header} != {columns}"
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
    assert len(shown) == len(entry["values"]), (
        f"{entry['text']!r}: {len(shown)} numbers {shown}, {len(entry['values'])} results keys"
    )
    for s, ref in zip(shown, entry["values"]):
        if ref is not None:
            assert agrees(s, lookup(ref)), f"{entry['doc']}: {entry['text']!r} shows {s}, results {ref} = {lookup(ref)}"


# Tables being re-measured in parallel work, by the first cell of their header row; each entry says
# who owns it. Remove an entry when its table gets a results marker.
PENDING = {
    ("circuits.md", "measure"): "bench circuits: i13-vis re-times it against captum.optim's real algorithm",
}


BLOCK = re.compile(r"<!-- BEGIN (\S+) [^(]*\((python scripts/\S+\.py [^)]*--tables[^)]*)\) -->\n(.*?)<!-- END \1", re.S)
GENERATED = [(doc, m.group(1), m.group(2), m.group(3)) for doc in DOCS for m in BLOCK.finditer(doc.read_text())]
# a script that prints a doc's tables from its results file, named in an HTML comment of that doc
TABLE_COMMAND = re.compile(r"<!--[^>]*\((python scripts/\S+\.py [^)]*--tables?\b[^)]*)\)[^>]*-->")
_printed: dict = {}


def printed_lines(command: str) -> set:
    """Lines that ``command`` (a reproduce script's table printer: reads its results file, measures
    nothing) prints now."""
    if command not in _printed:
        import os
        import subprocess
        import sys

        out = subprocess.run(
            [sys.executable, *command.split()[1:]],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert out.returncode == 0, f"{command}: {out.stderr[-2000:]}"
        _printed[command] = {line.strip() for line in out.stdout.splitlines() if line.strip()}
    return _printed[command]


@pytest.mark.parametrize("doc, name, command, block", GENERATED, ids=[f"{d.name}:{n}" for d, n, *_ in GENERATED])
def test_generated_blocks_equal_their_scripts_output(doc, name, command, block):
    """``<!-- BEGIN name (python scripts/X.py --tables) -->`` blocks print tables from a results file
    (no measuring): every line of the block must be a line the command prints now."""
    printed = printed_lines(command)
    for line in block.splitlines():
        if line.strip():
            assert line.strip() in printed, (
                f"{doc.name} block {name}: {line.strip()[:80]!r} is not what `{command}` prints"
            )


def _printed_by_doc_commands(text: str) -> set:
    return (
        set().union(*[printed_lines(m.group(1)) for m in TABLE_COMMAND.finditer(text)])
        if TABLE_COMMAND.search(text)
        else set()
    )


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_every_measured_table_names_its_results(doc):
    text = doc.read_text()
    printed = _printed_by_doc_commands(text)  # tables a named script prints from its results file
    lines = text.splitlines()
    for line, marker, not_measured, header, body in doc_tables(text):
        table = [x.strip() for x in lines[line - 1 : line + 1 + len(body)]]
        if (doc.name, clean(header[0])) in PENDING or (printed and all(x in printed for x in table)):
            continue
        measured = any(re.search(r"\d\.\d|\d\s?%", re.sub(r"`[^`]*`", "", cell)) for row in body for cell in row)
        assert marker or not_measured or not measured, (
            f"{doc.name}:{line}: a table of measured numbers needs <!-- results: results/FILE.json KEY --> above it"
        )


def test_every_results_file_says_how_it_was_made():
    referenced = {m.group(1) for d in DOCS for m in MARKER.finditer(d.read_text())}
    referenced |= {"results/" + ref.split(":")[0] for e in ENTRIES for ref in e["values"] if ref}
    for file in sorted(referenced):
        data = json.loads((REPO / file).read_text())
        runtime = next(
            (data.get(k) for k in ("wall_seconds", "seconds", "cpu_seconds") if data.get(k) is not None), None
        )
        assert data.get("command") and runtime is not None, f"{file}: no command or runtime"


def test_the_docs_name_the_command_behind_each_results_file():
    text = "\n".join(d.read_text() for d in DOCS)
    referenced = {m.group(1) for m in MARKER.finditer(text)} | {
        "results/" + ref.split(":")[0] for e in ENTRIES for ref in e["values"] if ref
    }
    for file in sorted(referenced):
        cmd = json.loads((REPO / file).read_text())["command"]
        script = next((w for w in cmd.split() if w.startswith("scripts/")), None)
        assert (script or " ".join(cmd.split()[:3])) in text, f"no doc names the command behind {file}: {cmd}"


@pytest.mark.parametrize(
    "shown, value, ok",
    [
        ("76.9", 0.769 * 100, True),
        ("0.94", 0.9409, True),
        ("0.94", 0.946, False),
        ("85,389", 85389.2, True),
        ("40", 40, True),
        ("41", 40, False),
        ("1.00", 0.9951, True),
        ("3.5e-05", 3.46e-5, True),
        ("3.5e-05", 3.4e-5, False),
    ],
)
def test_rounding_rule(shown, value, ok):
    assert agrees(shown, value) is ok


def test_numbers_skip_names_and_code():
    assert numbers("toy-vgg-s0 at 99.75 % in `--steps 800`, layer3.2: 1,024 latents, L0 16, 3.5e-05") == [
        "99.75",
        "1,024",
        "16",
        "3.5e-05",
    ]
