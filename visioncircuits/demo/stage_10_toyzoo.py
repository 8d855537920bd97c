"""Demo stage 10: the toy zoo (accuracy of every committed model, measured now) and a
gallery of one toy layer with each unit's ground-truth label beside its visualisation.

The page says what is built in: the supervised zoo's primitive layer is trained channel by
channel to detect the primitives (its labels are by construction); the unsupervised zoo
(class loss only) shows how many primitives get a detector without being asked.

Nothing is trained here: the stage uses the committed weights in ``models/toy``.
Later stages read ``ctx.shared["toyzoo"]`` (model, layer, labels).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from visioncircuits.atomic import write_json, write_png
from visioncircuits.demo import Artefact, DemoContext
from visioncircuits.report import data_uri, write_page

log = logging.getLogger(__name__)

TITLE = "Toy world: model zoo and ground-truth unit labels"
GALLERY_MODEL, GALLERY_LAYER = "toy-resnet-s0", "block2.relu2"  # the cleanest labels of the zoo
# Measured by scripts/reproduce_toy_render_quality.py (results/toy_render_quality.json): on
# block2.relu2 the spatial-mean objective with the default transforms beat the best toy image
# (spatial max) on 35 % of units; the centre-position objective without transforms on 100 %.
GALLERY_OBJECTIVE = "neuron"
GALLERY_TRANSFORMS = "none"
NARROW_MODEL = "toy-narrow-s0"
WIDE_VGG = "toy-vgg-s0"  # the narrow model's wide sibling


def _settings(quick: bool) -> dict:
    if quick:
        return {
            "n_eval": 60,
            "n_label": 200,
            "units": "0:4",
            "steps": 24,
            "examples": 0,
            "models": 2,
            "u_models": 1,
            "iso": 4,
        }
    return {
        "n_eval": 1000,
        "n_label": 1000,
        "units": "0:26",
        "steps": 64,
        "examples": 300,
        "models": None,
        "u_models": None,
        "iso": 16,
    }


def grid_image(images: torch.Tensor, nrow: int, pad: int = 1) -> torch.Tensor:
    """(N, 3, H, W) -> one (3, H', W') image, ``nrow`` per row, white gaps (no torchvision import)."""
    n, c, h, w = images.shape
    rows = -(-n // nrow)
    out = torch.ones(c, rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(n):
        y, x = divmod(i, nrow)
        out[:, pad + y * (h + pad) : pad + y * (h + pad) + h, pad + x * (w + pad) : pad + x * (w + pad) + w] = images[i]
    return out


def _samples(out: Path, seed: int) -> str:
    from visioncircuits.toyworld import CLASSES, generate

    per = 8
    b = generate(per * len(CLASSES), seed=seed, classes=[c for c in range(len(CLASSES)) for _ in range(per)])
    write_png(out / "samples.png", grid_image(b.images, per))
    return data_uri(out / "samples.png")


def _zoo_table(ctx: DemoContext, s: dict) -> tuple[list[dict], list[str]]:
    import json

    from visioncircuits.toyworld.evaluate import accuracy
    from visioncircuits.zoo import get_spec, load_model
    from visioncircuits.zoo.toy import toy_names

    rows, missing = [], []
    names = toy_names()[: s["models"]] + toy_names(supervised=False)[: s["u_models"]]
    for name in names:
        spec = get_spec(name)
        if not spec.has_default_weights:
            missing.append(name)
            continue
        model = load_model(name, device=ctx.device)
        card = Path(str(spec.default_weights)).with_suffix(".json")
        meta = json.loads(card.read_text()) if card.exists() else {}
        rows.append(
            {
                "name": name,
                "description": spec.description,
                "params": sum(p.numel() for p in model.parameters()),
                "accuracy": accuracy(model, n=s["n_eval"]),
                "card_accuracy": meta.get("accuracy"),
                "train_seconds": meta.get("train_seconds"),
                "cpu_seconds": meta.get("cpu_seconds"),
                "primitive_layer": spec.extra["primitive_layer"],
                "supervised": bool(spec.extra.get("supervised", True)),
            }
        )
    return rows, missing


def _mono_row(ctx: DemoContext, name: str, data, per_primitive: int) -> dict | None:
    from visioncircuits.toyworld.labels import (
        isolated_selectivity,
        label_units,
        monosemanticity,
    )
    from visioncircuits.zoo import get_spec, load_model

    spec = get_spec(name)
    if not spec.has_default_weights:
        return None
    model = load_model(name, device=ctx.device)
    layer = spec.extra["primitive_layer"]
    labs = label_units(model, layer, data=data)
    iso = isolated_selectivity(model, layer, per_primitive=per_primitive)
    return {
        "model": name,
        "layer": layer,
        "supervised": bool(spec.extra.get("supervised", True)),
        "units": len(labs),
        "mean_mono": float(labs.monosemanticity.mean()),
        "covered": int((labs.auc.max(0) >= 0.95).sum()),
        "iso_mono": float(monosemanticity(iso).mean()),
        "labels": labs,
    }


def _gallery(ctx: DemoContext, model, out: Path, labels, s: dict) -> str | None:
    from visioncircuits.featvis.gallery import build_gallery
    from visioncircuits.units import parse_range

    units = parse_range(s["units"], model.channels(GALLERY_LAYER))
    notes = {u: labels[u].describe() for u in units}
    dataset = None
    if s["examples"]:
        from visioncircuits.toyworld import generate

        dataset = out / "images"
        imgs = generate(s["examples"], seed=ctx.seed + 4242).images
        for i in range(len(imgs)):
            if not (dataset / f"toy_{i:04d}.png").exists():
                write_png(dataset / f"toy_{i:04d}.png", imgs[i])
    build_gallery(
        model,
        GALLERY_LAYER,
        out / "gallery",
        units=units,
        steps=s["steps"],
        unit_notes=notes,
        dataset=dataset,
        seed=ctx.seed,
        k=6,
        progress=False,
        # livelier starting noise: on 64 px toy images it leaves no unit dead (26/26 vs 21/26 at 0.1)
        param_kwargs={"sd": 0.5},
        # the primitives are small local patterns: maximise one position, not the spatial
        # mean (results/toy_render_quality.json: scripts/reproduce_toy_render_quality.py)
        objective=GALLERY_OBJECTIVE,
        transforms=GALLERY_TRANSFORMS,
        exact=True,  # a killed and resumed demo draws the same images (RenderConfig.exact)
    )
    return "gallery/index.html"


def run(ctx: DemoContext) -> list[Artefact]:
    from visioncircuits.device import torch_threads

    # tiny models and images: extra intra-op threads only cost synchronisation (ten times
    # slower on a busy 2-core machine), so the whole stage runs on one
    with torch_threads(1):
        return _run(ctx)


def _run(ctx: DemoContext) -> list[Artefact]:
    from visioncircuits.toyworld import CLASS_PRIMITIVES, CLASSES, PRIMITIVES, generate
    from visioncircuits.toyworld.labels import LABEL_SEED
    from visioncircuits.toyworld.train import EVAL_SEED
    from visioncircuits.zoo import load_model

    s = _settings(ctx.quick)
    out = ctx.stage_dir("toyzoo")
    torch.manual_seed(ctx.seed)
    samples = _samples(out, ctx.seed)
    models, missing = _zoo_table(ctx, s)
    data = generate(s["n_label"], seed=LABEL_SEED + ctx.seed)
    from visioncircuits.zoo.toy import toy_names

    unsupervised = toy_names(supervised=False)[: s["u_models"]]
    mono = [
        r
        for r in (_mono_row(ctx, m, data, s["iso"]) for m in (GALLERY_MODEL, WIDE_VGG, NARROW_MODEL, *unsupervised))
        if r is not None
    ]
    if not mono or mono[0]["model"] != GALLERY_MODEL:
        raise RuntimeError(
            f"no weights for {GALLERY_MODEL} in models/toy: train it with 'visioncircuits toyworld train vgg --seed 0'"
        )
    labels = mono[0]["labels"]
    model = load_model(GALLERY_MODEL, device=ctx.device)
    gallery = _gallery(ctx, model, out, labels, s)
    label_rows = [lab.__dict__ | {"confident": lab.confident} for lab in labels]
    ctx.shared["toyzoo"] = {
        "model": GALLERY_MODEL,
        "layer": GALLERY_LAYER,
        "labels": {lab.unit: lab.primitive for lab in labels},
        "auc": labels.auc,
        "narrow_model": NARROW_MODEL,
    }
    summary = {
        "models": [{k: v for k, v in m.items()} for m in models],
        "missing": missing,
        "superposition": [{k: v for k, v in r.items() if k != "labels"} for r in mono],
        "labels": label_rows,
    }
    write_json(out / "toyzoo.json", summary)
    write_page(
        out / "index.html",
        "toyzoo.html.j2",
        classes=[{"name": c, "primitives": CLASS_PRIMITIVES[c]} for c in CLASSES],
        primitives=PRIMITIVES,
        samples=samples,
        models=models,
        missing=missing,
        n_eval=s["n_eval"],
        eval_seed=EVAL_SEED,
        mono=[r for r in summary["superposition"]],
        labelled_model=GALLERY_MODEL,
        labelled_layer=GALLERY_LAYER,
        labels=label_rows,
        n_label=s["n_label"],
        gallery_href=gallery,
    )
    accs = ", ".join(f"{m['name']} {m['accuracy']:.3f}" for m in models)
    arts = [
        Artefact(
            "Toy model zoo, samples and unit labels",
            "toyzoo/index.html",
            f"held-out accuracy: {accs}",
            {"accuracy": {m["name"]: m["accuracy"] for m in models}},
        )
    ]
    if gallery:
        n_conf = sum(lab.confident for lab in labels)
        beating = json.loads((out / "gallery" / "gallery.json").read_text()).get("render_beats_dataset") or {}
        versus = (
            f"; renderings beat their best dataset image ({beating['measure']}) on {beating['share']:.0%} "
            f"of {beating['units_compared']} units"
            if beating.get("share") is not None
            else ""
        )
        arts.append(
            Artefact(
                f"Gallery: {GALLERY_MODEL} {GALLERY_LAYER} with ground-truth labels",
                f"toyzoo/{gallery}",
                f"{n_conf}/{len(labels)} units confidently labelled{versus}",
                {"render_beats_dataset": beating},
            )
        )
    return arts
