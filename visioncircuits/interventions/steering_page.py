"""The steering page: class shifts per alpha, dose-response curves (inline SVG) and an image grid.

Self-contained (images as data URIs, no script, no external URL) and rendered through
``report.write_page`` with autoescaping, so class names and unit addresses are escaped.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import torch

from visioncircuits.report import data_uri, write_page

if TYPE_CHECKING:
    from visioncircuits.interventions.steering import SteeringResult

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 700, 300, 56, 250, 12, 36
COLOURS = ["#c0392b", "#2e6fb7", "#1e7b34", "#8e44ad", "#d35400", "#16a085", "#7f8c8d"]


def curve_classes(res: SteeringResult, n_gained: int = 3, n_lost: int = 2) -> list[int]:
    """The target class, the classes whose mean logit rose most and those that fell most at the strongest alpha."""
    out = [] if res.target is None else [res.target]
    if not res.alphas:
        return out
    strongest = max(range(len(res.alphas)), key=lambda i: abs(res.alphas[i].alpha))
    order = res.logit_change(strongest).argsort(descending=True).tolist()
    for c in order[:n_gained] + order[::-1][:n_lost]:
        if c not in out:
            out.append(c)
    return out


def curve_series(res: SteeringResult, classes: list[int],
                 groups: Optional[dict] = None) -> list[tuple[str, list[tuple[float, float]]]]:
    """(name, [(alpha, mean logit)]) per class, then the mean logit of each named class group."""
    series = [(res.class_names[c] + (" (target)" if c == res.target else ""), pts)
              for c, pts in res.dose_response(classes).items()]
    points = sorted([res.baseline, *res.alphas], key=lambda r: r.alpha)
    for name, members in (groups or {}).items():
        idx = [c for c in members if 0 <= c < len(res.class_names)]
        if idx:
            series.append((f"mean of {len(idx)} {name} classes",
                           [(r.alpha, sum(r.mean_logits[c] for c in idx) / len(idx)) for r in points]))
    return series


def dose_response_svg(series: list[tuple[str, list[tuple[float, float]]]]) -> dict:
    """Coordinates for the template's SVG: one polyline per series, axis ticks, legend."""
    xs = sorted({a for _, pts in series for a, _ in pts})
    ys = [v for _, pts in series for _, v in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    sx = lambda a: PAD_L + (a - x0) / (x1 - x0) * pw  # noqa: E731
    sy = lambda v: PAD_T + (1 - (v - y0) / (y1 - y0)) * ph  # noqa: E731
    lines = []
    for i, (name, pts) in enumerate(series):
        lines.append({
            "name": name,
            "colour": COLOURS[i % len(COLOURS)],
            "dash": "6 3" if name.startswith("mean of ") else "",
            "points": " ".join(f"{sx(a):.1f},{sy(v):.1f}" for a, v in pts),
            "dots": [(round(sx(a), 1), round(sy(v), 1)) for a, v in pts],
            "legend_y": PAD_T + 14 + 18 * i,
        })
    yt = [y0 + (y1 - y0) * k / 4 for k in range(5)]
    return {
        "width": W, "height": H, "left": PAD_L, "right": W - PAD_R, "top": PAD_T, "bottom": H - PAD_B,
        "xticks": [(round(sx(a), 1), f"{a:g}") for a in xs],
        "yticks": [(round(sy(v), 1), f"{v:.3g}") for v in yt],
        "lines": lines, "legend_x": W - PAD_R + 12,
    }


def _thumb(image: torch.Tensor, side: int = 128) -> str:
    from PIL import Image

    from visioncircuits.data import to_pil

    pil = to_pil(image)
    if max(pil.size) > side:
        pil = pil.resize((side, side), Image.BILINEAR)  # pyright: ignore[reportAttributeAccessIssue]
    return data_uri(pil, "png")


def grid(res: SteeringResult, images: torch.Tensor, show: int) -> list[dict]:
    """The first ``show`` images with top-1 before and after each alpha."""
    cells = []
    for i in range(min(show, res.n_images)):
        b = res.baseline
        after = [{"alpha": f"{a.alpha:g}", "name": res.class_names[a.top1[i]], "prob": f"{a.top1_prob[i]:.2f}",
                  "changed": a.top1[i] != b.top1[i], "target": a.top1[i] == res.target} for a in res.alphas]
        cells.append({"src": _thumb(images[i]), "id": res.image_ids[i] if res.image_ids else f"image {i}",
                      "before": res.class_names[b.top1[i]], "before_prob": f"{b.top1_prob[i]:.2f}", "after": after})
    return cells


def write_steering_page(path: str | os.PathLike, res: SteeringResult, images: torch.Tensor, show: int = 12,
                        title: Optional[str] = None, groups: Optional[dict] = None) -> Path:
    """Write ``steer.html`` for a sweep (``images`` are the ones steered, in the same order);
    ``groups`` (name -> class indices) add their mean logit to the dose-response curves."""
    summary = []
    for a in res.alphas:
        summary.append({
            "alpha": f"{a.alpha:g}", "raw": f"{a.raw_alpha:.4g}", "changed": f"{100 * a.changed:.0f}%",
            "target": "-" if a.target_share is None else f"{100 * a.target_share:.0f}%",
            "became": "-" if a.became_target is None else f"{100 * a.became_target:.0f}%",
            "groups": [(g, f"{100 * s:.0f}%") for g, s in a.group_shares.items()],
            "gained": [f"{g['class']} +{g['delta']}" for g in a.gained[:5]],
            "lost": [f"{g['class']} {g['delta']}" for g in a.lost[:5]],
        })
    base_groups = [(g, f"{100 * s:.0f}%") for g, s in res.baseline.group_shares.items()]
    return write_page(
        path, "steering.html.j2", title=title or f"Steering {res.unit} in {res.model}", res=res, summary=summary,
        base_groups=base_groups, group_names=list(res.baseline.group_shares),
        svg=dose_response_svg(curve_series(res, curve_classes(res), groups)), cells=grid(res, images, show),
    )
