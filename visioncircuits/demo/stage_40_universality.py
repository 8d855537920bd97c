"""Demo stage 40: universality across toy architectures, checked against ground truth.

A VGG-style and a ResNet-style toy net (trained separately, committed weights; the next
pair in ``PREFERRED`` when one is not trained yet) are compared
on toy-world images: layer CKA, unit matching with permutation and random-weights nulls,
stimulus transfer. Because every toy unit has a ground-truth label, the stage measures
what matching claims: the share of the top-50 matched pairs whose units carry the same
label, against the same measure when model B has random weights (chance).
"""
from __future__ import annotations

import logging

from visioncircuits.atomic import write_json
from visioncircuits.demo import Artefact, DemoContext

log = logging.getLogger(__name__)

TITLE = "Universality: do different toy architectures learn the same units?"
PREFERRED = [("toy-vgg-s0", "toy-resnet-s0"), ("toy-vgg-s0", "toy-inception-s0"), ("toy-resnet-s0", "toy-inception-s0"),
             ("toy-vgg-s0", "toy-vgg-s1"), ("toy-vgg-s0", "toy-narrow-s0")]  # different architectures first


def _has_weights(name: str) -> bool:
    from visioncircuits.zoo import get_spec

    return get_spec(name).has_default_weights


def choose_pair() -> tuple[str, str]:
    """The first pair in PREFERRED whose weights are committed."""
    for a, b in PREFERRED:
        if _has_weights(a) and _has_weights(b):
            return a, b
    raise RuntimeError(
        "universality needs two trained toy models in models/toy: train them with "
        "'visioncircuits toyworld train vgg --seed 0' and 'visioncircuits toyworld train resnet --seed 0'"
    )


def _settings(quick: bool) -> dict:
    if quick:
        return {
            "n_probe": 64,
            "n_label": 200,
            "steps": 0,
            "top_pairs": 3,
            "grid": 4,
            "permutations": 1,
            "batch": 32,
            "top": 50,
        }
    return {
        "n_probe": 600,
        "n_label": 1000,
        "steps": 128,
        "top_pairs": 12,
        "grid": 8,
        "permutations": 2,
        "batch": 50,
        "top": 50,
    }


def _layers(name: str) -> list[str]:
    """Every main layer: early colour/edge units, the primitive layer and the layer above."""
    from visioncircuits.zoo import get_spec

    return list(get_spec(name).main_layers)


def random_weights_baseline(name_a: str, model_a, name_b: str, probes, s: dict, label_fn, device) -> dict:
    """Top-N label agreement when B has random weights (labels of its random units measured
    the same way): what matching finds when nothing was learnt."""
    from visioncircuits.universality.compare import CompareConfig, compare
    from visioncircuits.universality.toy import label_agreement
    from visioncircuits.zoo import load_model

    b_rand = load_model(name_b, weights="random", device=device)
    layers = {"a": _layers(name_a), "b": _layers(name_b)}
    res = compare(
        {"a": model_a, "b": b_rand},
        layers,
        probes,
        None,
        CompareConfig(batch_size=s["batch"], grid=s["grid"], n_permutations=1, top_examples=0, progress=False),
    )
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


def _run(ctx: DemoContext) -> list[Artefact]:
    from visioncircuits.universality.compare import CompareConfig
    from visioncircuits.universality.pipeline import (
        ReportConfig,
        load_models,
        run_universality,
    )
    from visioncircuits.universality.toy import toy_label_fn, toy_probes

    s = _settings(ctx.quick)
    out = ctx.stage_dir("universality")
    name_a, name_b = choose_pair()
    probes = toy_probes(s["n_probe"], seed=ctx.seed + 777_000_000)
    label_fn = toy_label_fn(n=s["n_label"])
    models, nulls = load_models([name_a, name_b], ctx.device)
    layers = [",".join(_layers(name_a)), ",".join(_layers(name_b))]
    opts = ReportConfig(top_pairs=s["top_pairs"], featvis_steps=s["steps"], label_top=s["top"],
                         compare=CompareConfig(batch_size=s["batch"], grid=s["grid"], n_permutations=s["permutations"],
                                                 seed=ctx.seed, progress=False))
    report = run_universality([name_a, name_b], probes, out, layers=layers, options=opts, label_fn=label_fn,
                              models=models, null_models=nulls)
    pair = report["pairs"][0]
    chance = random_weights_baseline(name_a, models[name_a], name_b, probes, s, label_fn, ctx.device)
    lab = pair["labels"]
    sig = significant_agreement(pair, s["top"])
    metrics = {
        "models": [name_a, name_b], "layers": layers, "probe_images": report["probes"]["n_images"],
        "top": lab["n"], "same_label": lab["same_label"], "same_label_fraction": lab["fraction"],
        "random_pairing_chance": lab["chance"],
        "random_weights_top": chance["n"], "random_weights_same_label_fraction": chance["fraction"],
        "significant_top": sig["n"], "significant_same_label_fraction": sig["fraction"],
        "random_weights_significant_top": chance["significant"]["n"],
        "random_weights_significant_same_label_fraction": chance["significant"]["fraction"],
        "significant_matches": pair["matching"]["n_significant"], "matches": len(pair["matching"]["matches"]),
        "cka": pair["cka"]["matrix"],
    }
    write_json(out / "summary.json", metrics)
    summary = (
        f"{name_a} vs {name_b}: {lab['same_label']}/{lab['n']} of the top matched pairs share their ground-truth "
        f"label ({100 * lab['fraction']:.0f}%; B with random weights: {100 * chance['fraction']:.0f}%, "
        f"random pairing: {100 * lab['chance']:.0f}%); "
        f"{metrics['significant_matches']} of {metrics['matches']} matches significant, "
        f"and among the top {sig['n']} significant ones {100 * sig['fraction']:.0f}% share their label "
        f"(B with random weights: {100 * chance['significant']['fraction']:.0f}% of {chance['significant']['n']})"
    )
    ctx.shared["universality"] = metrics
    return [
        Artefact(
            title=f"Universality report: {name_a} vs {name_b}",
            href="universality/report.html",
            summary=summary,
            metrics=metrics,
        )
    ]
