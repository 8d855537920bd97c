"""Demo stage 40: universality between toy models that share nothing by construction.

The two models compared are *unsupervised* toy nets (class loss only: no channel is told
what to detect) of different architectures, trained from different seeds (so different
training batches) and different initial weights (each model's init is a hash of its
architecture, seed and variant). Whatever they have in common emerged from training on
the same world. They are compared on toy-world images: layer CKA, unit matching with
permutation and random-weights nulls, stimulus transfer. Because every toy unit has a
ground-truth label, the stage measures what matching claims: the share of the top-50
matched pairs whose units carry the same label, next to two baselines: the same measure
when model B has random weights, and the same-index baseline (how many matches pair unit
i with unit i, which shared init or a supervised channel order would inflate).
"""
from __future__ import annotations

import logging
from pathlib import Path

from visioncircuits.atomic import write_json
from visioncircuits.demo import Artefact, DemoContext

log = logging.getLogger(__name__)

TITLE = "Universality: do toy models that share nothing learn the same units?"
# unsupervised, different architecture and different seed: nothing shared by construction
PREFERRED = [("toy-vgg-u-s0", "toy-resnet-u-s1"), ("toy-resnet-u-s0", "toy-inception-u-s1"), ("toy-inception-u-s0", "toy-vgg-u-s1")]


def _has_weights(name: str) -> bool:
    from visioncircuits.zoo import get_spec

    return Path(get_spec(name).default_weights).exists()


def choose_pair() -> tuple[str, str]:
    """The first pair in PREFERRED whose weights are committed."""
    for a, b in PREFERRED:
        if _has_weights(a) and _has_weights(b):
            return a, b
    raise RuntimeError("universality needs two unsupervised toy models in models/toy: train them with "
                       "'visioncircuits toyworld train vgg --seed 0 --unsupervised' and 'visioncircuits toyworld train resnet --seed 1 --unsupervised'")


def _settings(quick: bool) -> dict:
    if quick:
        return {"n_probe": 64, "n_label": 200, "steps": 0, "top_pairs": 3, "grid": 4, "permutations": 1, "batch": 32, "top": 50}
    return {"n_probe": 600, "n_label": 1000, "steps": 128, "top_pairs": 12, "grid": 8, "permutations": 2, "batch": 50, "top": 50}


def _layers(name: str) -> list[str]:
    """Every main layer: early colour/edge units, the primitive layer and the layer above."""
    from visioncircuits.zoo import get_spec

    return list(get_spec(name).main_layers)


def random_weights_baseline(name_a: str, model_a, name_b: str, probes, s: dict, label_fn, device) -> dict:
    """Top-N label agreement when B has random weights (labels of its random units measured
    the same way): what matching finds when nothing was learnt."""
    from visioncircuits.universality.compare import CompareSettings, compare
    from visioncircuits.universality.labels import label_agreement
    from visioncircuits.zoo import load_model

    b_rand = load_model(name_b, weights="random", device=device)
    layers = {"a": _layers(name_a), "b": _layers(name_b)}
    res = compare({"a": model_a, "b": b_rand}, layers, probes, None,
                  CompareSettings(batch_size=s["batch"], grid=s["grid"], n_permutations=1, top_examples=0, progress=False))
    labels_a = label_fn(name_a, model_a, res.units["a"])
    labels_b = label_fn(name_b + " (random)", b_rand, res.units["b"])
    pr = res.pairs[0]
    out = label_agreement(pr.matches, labels_a, labels_b, s["top"])
    sig = [m for m, ok in zip(pr.matches, pr.sig_permuted.significant) if ok]
    out["significant"] = label_agreement(sig, labels_a, labels_b, s["top"])
    return out


def significant_agreement(pair: dict, top: int) -> dict:
    """Label agreement among the strongest *significant* labelled matches of a report pair."""
    rows = [m for m in pair["matching"]["matches"] if m["significant"] and m.get("label_a") and m.get("label_b")][:top]
    same = sum(m["label_a"] == m["label_b"] for m in rows)
    return {"n": len(rows), "same_label": same, "fraction": same / len(rows) if rows else 0.0}


def run(ctx: DemoContext) -> list[Artefact]:
    from visioncircuits.device import torch_threads

    with torch_threads(1):  # tiny models: extra intra-op threads only cost synchronisation
        return _run(ctx)


def measure_pair(name_a: str, name_b: str, probes, s: dict, out: Path, seed: int = 0, device=None) -> tuple[dict, dict]:
    """The universality report of one pair plus its headline metrics (label agreement with the
    random-weights and random-pairing baselines, and the same-index baseline)."""
    from visioncircuits.universality.compare import CompareSettings
    from visioncircuits.universality.pipeline import ReportOptions, load_models, run_universality
    from visioncircuits.universality.toy import toy_label_fn

    label_fn = toy_label_fn(n=s["n_label"])
    models, nulls = load_models([name_a, name_b], device)
    layers = [",".join(_layers(name_a)), ",".join(_layers(name_b))]
    opts = ReportOptions(top_pairs=s["top_pairs"], featvis_steps=s["steps"], label_top=s["top"],
                         compare=CompareSettings(batch_size=s["batch"], grid=s["grid"], n_permutations=s["permutations"],
                                                 seed=seed, progress=False))
    report = run_universality([name_a, name_b], probes, out, layers=layers, options=opts, label_fn=label_fn,
                              models=models, null_models=nulls)
    pair = report["pairs"][0]
    chance = random_weights_baseline(name_a, models[name_a], name_b, probes, s, label_fn, device)
    lab = pair["labels"]
    sig = significant_agreement(pair, s["top"])
    si = pair["same_index"]
    metrics = {
        "models": [name_a, name_b], "supervised": [bool(models[n].spec.extra.get("supervised", True)) for n in (name_a, name_b)],
        "layers": layers, "probe_images": report["probes"]["n_images"],
        "top": lab["n"], "same_label": lab["same_label"], "same_label_fraction": lab["fraction"],
        "random_pairing_chance": lab["chance"],
        "random_weights_top": chance["n"], "random_weights_same_label_fraction": chance["fraction"],
        "significant_top": sig["n"], "significant_same_label_fraction": sig["fraction"],
        "random_weights_significant_top": chance["significant"]["n"],
        "random_weights_significant_same_label_fraction": chance["significant"]["fraction"],
        "significant_matches": pair["matching"]["n_significant"], "matches": len(pair["matching"]["matches"]),
        "same_index": si["same_index"], "same_index_fraction": si["same_index_fraction"], "same_index_by_layer": si["same_index_by_layer"],
        "top_same_index": si["top_same_index"], "top_same_index_of": si["top"], "same_index_chance": si["chance"],
        "identity_mean_r": si["identity_mean_r"], "matching_mean_r": si["matching_mean_r"],
        "identity_same_label_fraction": si.get("identity_same_label_fraction"),
        "cka": pair["cka"]["matrix"],
    }
    return report, metrics


def summary_text(m: dict) -> str:
    """One paragraph: the result with its baselines next to it."""
    a, b = m["models"]
    return (f"{a} vs {b}: {m['same_label']}/{m['top']} of the top matched pairs share their ground-truth "
            f"label ({100 * m['same_label_fraction']:.0f}%; B with random weights: {100 * m['random_weights_same_label_fraction']:.0f}%, "
            f"random pairing: {100 * m['random_pairing_chance']:.0f}%); same-index baseline: {m['same_index']} of {m['matches']} "
            f"matches pair unit i with unit i (chance {100 * m['same_index_chance']:.1f}%); "
            f"{m['significant_matches']} of {m['matches']} matches significant, "
            f"and among the top {m['significant_top']} significant ones {100 * m['significant_same_label_fraction']:.0f}% share their label "
            f"(B with random weights: {100 * m['random_weights_significant_same_label_fraction']:.0f}% of {m['random_weights_significant_top']})")


def _run(ctx: DemoContext) -> list[Artefact]:
    from visioncircuits.universality.toy import toy_probes

    s = _settings(ctx.quick)
    out = ctx.stage_dir("universality")
    name_a, name_b = choose_pair()
    probes = toy_probes(s["n_probe"], seed=ctx.seed + 777_000_000)
    _, metrics = measure_pair(name_a, name_b, probes, s, out, seed=ctx.seed, device=ctx.device)
    write_json(out / "summary.json", metrics)
    ctx.shared["universality"] = metrics
    return [Artefact(f"Universality report: {name_a} vs {name_b} (unsupervised, different architecture, seed and init)",
                     href="universality/report.html", summary=summary_text(metrics), metrics=metrics)]
