"""The universality report job: load models, compare, visualise, score transfer, write.

``run_universality(["toy-vgg-s0", "toy-resnet-s0"], probes, out)`` is what the CLI and the
demo stage call. Outputs (``report.json``, ``report.html``, ``cka_<a>_vs_<b>.png``) are
written atomically at the end, so a killed run leaves either the old report or none;
feature visualisations are kept in ``out/vis`` and reused by the next run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Optional, Sequence

import numpy as np
import torch

from visioncircuits.atomic import write_bytes
from visioncircuits.errors import InputError
from visioncircuits.units import Unit
from visioncircuits.universality.baselines import same_index_baseline
from visioncircuits.universality.compare import (
    CompareConfig,
    CompareResult,
    PairResult,
    compare,
)
from visioncircuits.universality.probes import (
    ProbeSet,
    resolve_layers,
    stimulus_transfer,
)
from visioncircuits.utils import slug

if TYPE_CHECKING:
    from visioncircuits.hooks import HookedModel

log = logging.getLogger(__name__)

# unit label provider: (model name, HookedModel, units) -> {unit index: label or None}
LabelFn = Callable[[str, object, Sequence[Unit]], dict[int, Optional[str]]]


@dataclass
class ReportConfig:
    """What the report shows beyond the comparison itself."""

    top_pairs: int = 12  # matched pairs shown with pictures
    featvis_steps: int = 128  # 0: no feature visualisations and no transfer scores
    featvis_size: Optional[int] = None
    label_top: int = 50
    random_null: bool = True
    compare: CompareConfig = field(default_factory=CompareConfig)


ReportOptions = ReportConfig  # deprecated name (one suffix, *Config, everywhere)


def load_models(names: Sequence[str], device=None, random_null: bool = True) -> tuple[dict, dict]:
    """Trained models and (if ``random_null``) the same architectures with random weights."""
    from visioncircuits.zoo import load_model

    if len(set(names)) != len(names):
        raise InputError(f"each model may appear only once, got {list(names)}")
    models = {n: load_model(n, device=device) for n in names}
    nulls = {n: load_model(n, weights="random", device=device) for n in names[1:]} if random_null else {}
    return models, nulls


def layer_selection(models: Mapping[str, HookedModel], layers: Optional[Sequence[str]]) -> dict[str, list[str]]:
    """Layer choice per model: none/"main" (each model's main layers), "all", one comma list for every
    model, or one entry per model in order."""
    names = list(models)
    if not layers:
        return {n: resolve_layers(models[n], None) for n in names}
    if len(layers) == 1:
        spec = layers[0]
        return {n: resolve_layers(models[n], spec if spec in ("main", "all") else spec.split(",")) for n in names}
    if len(layers) != len(names):
        raise InputError(f"layers takes one entry for all models or one per model ({len(names)}), got {len(layers)}")
    return {n: resolve_layers(models[n], s if s in ("main", "all") else s.split(",")) for n, s in zip(names, layers)}


def _render(
    model, units: Sequence[Unit], steps: int, size: Optional[int], progress: bool, cache: Optional[Path] = None
) -> Optional[torch.Tensor]:
    """Feature visualisations of ``units``; with ``cache``, PNGs found there from an earlier
    run (same model, weights digest, seeding scheme, unit, steps, size) are reused and new ones
    are written atomically, so an interrupted or repeated report does not render twice."""
    from visioncircuits.atomic import write_png
    from visioncircuits.data import load_image
    from visioncircuits.featvis.render import render
    from visioncircuits.featvis.seeding import SEEDING_VERSION
    from visioncircuits.fingerprint import digest, model_fingerprint

    size = int(size or model.spec.input_size)
    fp = digest({**model_fingerprint(model), "seeding": SEEDING_VERSION})[:10]  # other weights/seeding: not reused
    if cache:
        from visioncircuits.atomic import clean_stale_tmp

        clean_stale_tmp(cache, recursive=False)
    paths: list[Optional[Path]] = (
        [cache / (slug(f"{model.spec.name}_{u}_s{steps}_{size}px_{fp}") + ".png") for u in units]
        if cache
        else [None] * len(units)
    )
    todo = [i for i, p in enumerate(paths) if p is None or not p.exists()]
    images: list[Optional[torch.Tensor]] = [
        None if p is None or i in todo else load_image(p) for i, p in enumerate(paths)
    ]
    if todo:
        res = render(model, [str(units[i]) for i in todo], steps=steps, size=size, progress=progress, seed=0)
        for j, i in enumerate(todo):
            images[i] = (res.images[j].clamp(0, 1) * 255).round() / 255  # as a PNG holds it: reruns score alike
            path = paths[i]
            if path is not None:
                write_png(path, res.images[j])
    return torch.stack([im for im in images if im is not None])  # every entry is set by now


def pair_report(
    res: CompareResult,
    pr: PairResult,
    models: Mapping[str, HookedModel],
    probes: ProbeSet,
    opts: ReportConfig,
    labels: Optional[Mapping[str, dict[int, Optional[str]]]] = None,
    vis_cache: Optional[Path] = None,
) -> dict:
    """JSON-ready summary of one pair, with pictures (tensors) kept under ``_images``."""
    ua, ub = res.units[pr.a], res.units[pr.b]
    sig = pr.significant
    beats = pr.beats_random
    matches = []
    for rank, m in enumerate(pr.matches):
        row = {
            "rank": rank + 1,
            "unit_a": str(ua[m.a]),
            "unit_b": str(ub[m.b]),
            "index_a": m.a,
            "index_b": m.b,
            "r": m.r,
            "p_permuted": float(pr.sig_permuted.p[rank]),
            "q_permuted": float(pr.sig_permuted.q[rank]),
            "z_permuted": float(pr.sig_permuted.z[rank]),
            "random_baseline": None if pr.random_best is None else float(pr.random_best[m.a]),
            "beats_random": None if beats is None else bool(beats[rank]),
            "significant": bool(sig[rank]),
        }
        if labels:
            row["label_a"] = labels.get(pr.a, {}).get(m.a)
            row["label_b"] = labels.get(pr.b, {}).get(m.b)
        matches.append(row)

    def summary(null):
        if null is None:
            return None
        return {
            "n": int(null.size),
            "mean": float(null.mean()),
            "std": float(null.std()),
            "q50": float(np.quantile(null, 0.5)),
            "q95": float(np.quantile(null, 0.95)),
            "max": float(null.max()),
        }

    strengths = np.array([m.r for m in pr.matches])
    out = {
        "a": pr.a,
        "b": pr.b,
        "cka": {
            "metric": "minibatch linear CKA (unbiased HSIC)",
            "layers_a": res.layers[pr.a],
            "layers_b": res.layers[pr.b],
            "matrix": pr.cka.round(6).tolist(),
            "argmax_b_for_each_a": pr.cka.argmax(axis=1).tolist(),
        },
        "matching": {
            "method": res.settings.method,
            "grid": res.settings.grid,
            "units_a": len(ua),
            "units_b": len(ub),
            "dead_a": [str(ua[i]) for i in pr.dead_a],
            "dead_b": [str(ub[i]) for i in pr.dead_b],
            "n_significant": int(sig.sum()),
            "n_beat_random": None if beats is None else int(beats.sum()),
            "mean_r": float(strengths.mean()),
            "matches": matches,
        },
        "null": {"permuted_images": summary(pr.null_permuted), "random_weights": summary(pr.null_random)},
        "_images": {},
    }
    la = labels.get(pr.a) if labels else None
    lb = labels.get(pr.b) if labels else None
    out["same_index"] = same_index_baseline(
        pr.matches, pr.corr, ua, res.layers[pr.a], ub, res.layers[pr.b], la, lb, opts.label_top
    )
    if la is not None and lb is not None:
        from visioncircuits.universality.toy import label_agreement

        out["labels"] = label_agreement(pr.matches, la, lb, opts.label_top)
    top = pr.matches[: opts.top_pairs]
    k = res.settings.top_examples
    if k and top:
        out["_images"]["examples_a"] = [probes.images(list(res.top_indices[pr.a][m.a][:k])) for m in top]
        out["_images"]["examples_b"] = [probes.images(list(res.top_indices[pr.b][m.b][:k])) for m in top]
    if opts.featvis_steps > 0 and top:
        pairs = [(ua[m.a], ub[m.b]) for m in top]
        prog = res.settings.progress
        vis_a = _render(models[pr.a], [p[0] for p in pairs], opts.featvis_steps, opts.featvis_size, prog, vis_cache)
        vis_b = _render(models[pr.b], [p[1] for p in pairs], opts.featvis_steps, opts.featvis_size, prog, vis_cache)
        if vis_a is not None and vis_b is not None:
            out["_images"]["vis_a"], out["_images"]["vis_b"] = vis_a, vis_b
            scores = stimulus_transfer(
                models[pr.a],
                models[pr.b],
                pairs,
                vis_a,
                vis_b,
                baseline_a=[res.unit_means[pr.a][m.a] for m in top],
                baseline_b=[res.unit_means[pr.b][m.b] for m in top],
            )
            out["transfer"] = [s.to_dict() for s in scores]
    return out


def run_universality(
    model_names: Sequence[str],
    probes: ProbeSet,
    out: str | Path,
    layers: Optional[Sequence[str]] = None,
    options: Optional[ReportConfig] = None,
    device=None,
    label_fn: Optional[LabelFn] = None,
    models: Optional[Mapping[str, HookedModel]] = None,
    null_models: Optional[Mapping[str, HookedModel]] = None,
) -> dict:
    """Compare the models on ``probes`` and write report.json, report.html and CKA figures to ``out``.

    ``models``/``null_models`` may be passed pre-loaded (tests, custom nets); otherwise they
    are loaded by name. ``label_fn`` gives ground-truth unit labels (toy world). Returns the
    report dictionary (as written to report.json).

    Examples:
        >>> from visioncircuits.universality.toy import toy_label_fn, toy_probes
        >>> report = run_universality(["toy-vgg-s0", "toy-resnet-s0"], toy_probes(500), "out/univ",
        ...                           options=ReportConfig(featvis_steps=0), label_fn=toy_label_fn())  # doctest: +SKIP
        >>> report["pairs"][0]["matching"]["n_significant"]                                          # doctest: +SKIP
        31
    """
    from visioncircuits.universality.report import cka_heatmap, write_report

    opts = options or ReportConfig()
    t0 = time.perf_counter()
    if models is None:
        models, loaded_nulls = load_models(model_names, device, opts.random_null)
        null_models = null_models if null_models is not None else loaded_nulls
    sel = layer_selection(models, layers)
    res = compare(models, sel, probes, null_models if opts.random_null else None, opts.compare)
    labels = None
    if label_fn is not None:
        labels = {n: label_fn(n, models[n], res.units[n]) for n in models}
    out = Path(out)
    pairs = [pair_report(res, pr, models, probes, opts, labels, vis_cache=out / "vis") for pr in res.pairs]
    figures = {}
    for p in pairs:
        fname = slug(f"cka_{p['a']}_vs_{p['b']}") + ".png"
        png = cka_heatmap(np.array(p["cka"]["matrix"]), p["cka"]["layers_a"], p["cka"]["layers_b"], p["a"], p["b"])
        write_bytes(out / fname, png)
        figures[(p["a"], p["b"])] = png
        p["cka"]["figure"] = fname
    report = {
        "version": 1,
        "models": list(models),
        "descriptions": {n: str(getattr(getattr(models[n], "spec", None), "description", "") or "") for n in models},
        "probes": {"description": probes.describe(), "n_images": res.n_images},
        "settings": {**asdict(opts.compare), "random_null": opts.random_null, "featvis_steps": opts.featvis_steps},
        "layers": res.layers,
        "seconds": round(time.perf_counter() - t0, 2),
        "pairs": pairs,
        "_nulls": {(pr.a, pr.b): {"permuted": pr.null_permuted, "random": pr.null_random} for pr in res.pairs},
    }
    write_report(out, report, figures)
    return report  # includes the private "_..." keys (pictures, null samples) that report.json omits
