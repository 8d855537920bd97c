"""The client-side search index: one small JS file every page can load from file://.

``fetch`` of a JSON file is blocked on file:// URLs, so the index is a script that sets
``window.VC_ATLAS_INDEX``; the search page filters it in the browser (no network, no CDN).
An entry is ``{"a": address, "l": label, "c": [classes of the top photos], "h": page,
"t": thumbnail}`` (paths relative to the site root).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from visioncircuits.atomic import write_text


def index_entry(address: str, label: str, classes: Iterable, href: str, thumb: str) -> dict:
    return {"a": address, "l": label or "", "c": sorted({str(c) for c in classes if c}), "h": href, "t": thumb}


def write_search_index(site: Path, entries: list) -> Path:
    # json.dumps escapes nothing HTML-special; "<" is escaped so no "</script>" can end the file's context
    body = json.dumps(entries, separators=(",", ":")).replace("<", "\\u003c")
    return write_text(site / "static" / "search_index.js", f"window.VC_ATLAS_INDEX = {body};\n")


def search(entries: list, query: str, limit: int = 50) -> list:
    """The Python twin of the page's search (tests hold them to the same rules): every word of
    ``query`` must occur (case-insensitive) in the address, the label or a top-photo class."""
    words = query.lower().split()
    if not words:
        return []
    hits = []
    for e in entries:
        hay = " ".join([e["a"], e["l"], *e["c"]]).lower()
        if all(w in hay for w in words):
            hits.append(e)
    return hits[:limit]
