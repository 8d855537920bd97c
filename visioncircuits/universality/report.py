"""The universality report: figures (PNG bytes) and the report.json / report.html writer.

Merged from: ``figures``, ``report`` (their old module paths still import).
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np

from visioncircuits.atomic import write_json
from visioncircuits.report import data_uri, write_page


# ------------------------------------------------------------ figures
def _subplots(figsize):
    """A figure on its own Agg canvas: no pyplot, so the caller's backend (e.g. inline
    plots in a notebook) is never switched and no global figure state is touched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def _short(names: Sequence[str], limit: int = 18) -> list[str]:
    return [n if len(n) <= limit else "…" + n[-(limit - 1):] for n in names]


def cka_heatmap(matrix: np.ndarray, layers_a: Sequence[str], layers_b: Sequence[str], name_a: str, name_b: str,
                title: Optional[str] = None, mark_argmax: bool = True) -> bytes:
    """Layer-by-layer CKA, rows = layers of A (input at the top), columns = layers of B.

    A dot marks each row's most similar layer of B, so the diagonal (or its absence) is
    visible at a glance.
    """
    m = np.asarray(matrix, dtype=float)
    h = max(3.0, 0.28 * len(layers_a) + 1.5)
    w = max(4.0, 0.22 * len(layers_b) + 2.5)
    fig, ax = _subplots((w, h))
    im = ax.imshow(m, vmin=0, vmax=1, cmap="magma", aspect="auto", interpolation="nearest")
    if mark_argmax and m.size:
        ax.scatter(m.argmax(axis=1), np.arange(m.shape[0]), s=12, c="cyan", marker="o", label="row max")
    ax.set_yticks(range(len(layers_a)))
    ax.set_yticklabels(_short(layers_a), fontsize=7)
    ax.set_xticks(range(len(layers_b)))
    ax.set_xticklabels(_short(layers_b), fontsize=7, rotation=90)
    ax.set_ylabel(name_a)
    ax.set_xlabel(name_b)
    ax.set_title(title or f"linear CKA: {name_a} vs {name_b}", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    return _png(fig)


def match_histogram(
    strengths: Sequence[float],
    null_permuted: Sequence[float],
    null_random: Optional[Sequence[float]] = None,
    title: str = "match strength vs null",
) -> bytes:
    """Densities of matched correlations: real, permuted-images null, random-weights null."""
    fig, ax = _subplots((5.5, 3.0))
    bins = np.linspace(-0.2, 1.0, 49).tolist()
    ax.hist(np.asarray(strengths), bins=bins, density=True, alpha=0.6, label="trained vs trained", color="#c0392b")
    ax.hist(
        np.asarray(null_permuted), bins=bins, density=True, alpha=0.5, label="null: permuted images", color="#7f8c8d"
    )
    if null_random is not None:
        ax.hist(
            np.asarray(null_random),
            bins=bins,
            density=True,
            histtype="step",
            lw=1.5,
            label="null: random weights",
            color="#2e6fb7",
        )
    ax.set_xlabel("correlation of matched units")
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


# ------------------------------------------------------------ report
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
        hist = match_histogram(
            strengths, null_p.get("permuted", []), null_p.get("random"), title=f"{p['a']} vs {p['b']}"
        )
        cka = np.array(p["cka"]["matrix"])
        pairs.append({
            "a": p["a"], "b": p["b"], "heatmap": data_uri(figures[(p["a"], p["b"])]), "histogram": data_uri(hist),
            "cka_rows": [{"layer": la, "best": p["cka"]["layers_b"][int(cka[i].argmax())], "value": float(cka[i].max())}
                         for i, la in enumerate(p["cka"]["layers_a"])],
            "matching": p["matching"], "null": p["null"], "top": top, "labels": p.get("labels"),
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
