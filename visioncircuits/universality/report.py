"""Write the universality report: report.json (numbers) and a self-contained report.html.

The page embeds every picture as a data URI (CKA heatmaps and histograms from
:mod:`figures`, feature visualisations and dataset examples as PNG), and every name comes
through Jinja2 autoescaping, so it works offline from file:// and a model or layer name
cannot inject markup.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from visioncircuits.atomic import write_json
from visioncircuits.report import data_uri, write_page
from visioncircuits.universality.figures import match_histogram


def _uris(images) -> list[str]:
    return [data_uri(im) for im in images]


def page_context(report: dict, figures: Mapping[tuple, bytes]) -> dict:
    """The template's view of the report: numbers plus data URIs, no tensors."""
    pairs = []
    for p in report["pairs"]:
        imgs = p.get("_images", {})
        ms = p["matching"]["matches"]
        top = []
        for i, m in enumerate(ms[: len(imgs.get("examples_a", [])) or len(imgs.get("vis_a", [])) or 0]):
            top.append({
                **m,
                "vis_a": data_uri(imgs["vis_a"][i]) if "vis_a" in imgs else None,
                "vis_b": data_uri(imgs["vis_b"][i]) if "vis_b" in imgs else None,
                "examples_a": _uris(imgs["examples_a"][i]) if "examples_a" in imgs else [],
                "examples_b": _uris(imgs["examples_b"][i]) if "examples_b" in imgs else [],
                "transfer": p["transfer"][i] if "transfer" in p and i < len(p["transfer"]) else None,
            })
        strengths = [m["r"] for m in ms]
        null_p = report.get("_nulls", {}).get((p["a"], p["b"]), {})
        hist = match_histogram(strengths, null_p.get("permuted", []), null_p.get("random"), title=f"{p['a']} vs {p['b']}")
        cka = np.array(p["cka"]["matrix"])
        pairs.append({
            "a": p["a"], "b": p["b"], "heatmap": data_uri(figures[(p["a"], p["b"])]), "histogram": data_uri(hist),
            "cka_rows": [{"layer": la, "best": p["cka"]["layers_b"][int(cka[i].argmax())], "value": float(cka[i].max())}
                         for i, la in enumerate(p["cka"]["layers_a"])],
            "matching": p["matching"], "null": p["null"], "top": top, "labels": p.get("labels"), "same_index": p.get("same_index"),
            "transfer": p.get("transfer"),
        })
    return {"report": report, "pairs": pairs}


def public(report: dict) -> dict:
    """The report without private keys (pictures, raw nulls): what report.json holds."""
    clean = {k: v for k, v in report.items() if not k.startswith("_")}
    clean["pairs"] = [{k: v for k, v in p.items() if not k.startswith("_")} for p in report["pairs"]]
    return clean


def write_report(out: str | Path, report: dict, figures: Mapping[tuple, bytes]) -> Path:
    """Write report.json and report.html into ``out``; returns the HTML path."""
    out = Path(out)
    write_json(out / "report.json", public(report))
    return write_page(out / "report.html", "universality.html.j2", **page_context(report, figures))
