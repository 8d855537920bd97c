"""Rewrite the published numbers in README.md and docs/readme/*.md from results/ after a re-measurement.

- Every table under a `<!-- results: results/FILE.json KEY -->` marker gets its body rows
  regenerated from the results file (header kept; floats printed with 3 decimals below 10,
  1 decimal below 100, whole numbers with thousands separators above).
- Every sentence in docs/published_numbers.json gets its quoted numbers replaced by the current
  results values, printed with as many digits as before; the mapping file is updated with it.
A results file that does not exist yet is skipped (reported). Then run
`python -m pytest tests/test_published_numbers.py`.

    python scripts/update_published_numbers.py [--check]     # --check: only report what would change
"""
from __future__ import annotations

import json
import re
import sys

from visioncircuits.published import DOCS, MAPPING, TOKEN, doc_tables, lookup, table_rows


def fmt_cell(v, spec=None) -> str:
    """A table cell; ``spec`` (a format spec from the table's ``format`` list) wins over the defaults."""
    if v is None:
        return ""
    if isinstance(v, bool) or isinstance(v, str):
        return str(v)
    if isinstance(v, list):
        return ", ".join(fmt_cell(x, spec) for x in v)
    if spec:
        return format(v, spec)
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    a = abs(v)
    return f"{v:.3f}" if a < 10 else f"{v:.1f}" if a < 100 else f"{v:,.0f}" if a >= 10_000 else f"{v:.0f}"


def like(old: str, value: float) -> str:
    """``value`` printed with the digits of ``old`` (decimals, thousands separators, exponent)."""
    if "e" in old:
        mant = old.split("e")[0]
        d = len(mant.split(".")[1]) if "." in mant else 0
        return f"{value:.{d}e}"
    d = len(old.split(".")[1]) if "." in old else 0
    return f"{value:,.{d}f}" if "," in old else f"{value:.{d}f}"


def update_tables(text: str, missing: set) -> str:
    lines = text.splitlines(keepends=True)
    for line, marker, _, header, body in reversed(list(doc_tables(text))):
        if not marker:
            continue
        file, key = marker.group(1), marker.group(2)
        try:
            _, rows = table_rows(file, key, header)
            table = lookup(f"{file[len('results/'):]}:{key}")
        except (FileNotFoundError, KeyError) as e:
            missing.add(f"{file} {key}: {e}")
            continue
        specs = table.get("format") if isinstance(table, dict) else None
        specs = specs or [None] * len(header)
        start = line + 1  # 0-based index of the first body row (line is 1-based header)
        new = ["| " + " | ".join(fmt_cell(c, f) for c, f in zip(row, specs)) + " |\n" for row in rows]
        lines[start:start + len(body)] = new
    return "".join(lines)


def update_sentence(entry: dict, docs: dict, missing: set) -> None:
    text = entry["text"]
    masked = re.sub(r"`[^`]*`", lambda m: "\0" * len(m.group(0)), text)  # numbers inside code are not quoted
    toks = [m for m in TOKEN.finditer(masked) if not m.group("name")]
    if len(toks) != len(entry["values"]):
        missing.add(f"{entry['doc']}: {text[:50]!r}: {len(toks)} numbers, {len(entry['values'])} values")
        return
    out, pos = [], 0
    for m, ref in zip(toks, entry["values"]):
        out.append(text[pos:m.start()])
        if ref is None:
            out.append(m.group(0))
        else:
            try:
                out.append(like(m.group(0), float(lookup(ref))))
            except (FileNotFoundError, KeyError, IndexError) as e:
                missing.add(f"{ref}: {e}")
                out.append(m.group(0))
        pos = m.end()
    new = "".join(out) + text[pos:]
    if new == text:
        return
    pattern = r"\s+".join(re.escape(w) for w in text.split())
    doc = docs[entry["doc"]]
    found = re.search(pattern, doc)
    if not found:
        missing.add(f"{entry['doc']} no longer says {text[:50]!r}")
        return
    docs[entry["doc"]] = doc[:found.start()] + new + doc[found.end():]
    entry["text"] = new


def main(argv: list[str]) -> int:
    check = "--check" in argv
    root = DOCS[0].parent
    docs = {str(p.relative_to(root)): p.read_text() for p in DOCS}
    missing: set = set()
    for name in docs:
        docs[name] = update_tables(docs[name], missing)
    entries = json.loads(MAPPING.read_text())
    for e in entries:
        update_sentence(e, docs, missing)
    changed = [n for n in docs if (root / n).read_text() != docs[n]]
    for m in sorted(missing):
        print(f"skipped: {m}")
    print(("would change: " if check else "changed: ") + (", ".join(changed) or "nothing"))
    if not check:
        for n in changed:
            (root / n).write_text(docs[n])
        MAPPING.write_text(json.dumps(entries, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
