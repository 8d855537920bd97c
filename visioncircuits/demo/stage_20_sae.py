"""Demo stage 20: an SAE untangles the narrow toy model's superposition.

``toy-narrow-s0`` squeezes 26 ground-truth primitives through 12 channels. A TopK SAE trained
here on its primitive layer's pre-activation (``conv3``; fresh toy scenes with a share of
isolated-primitive images) is scored against the ground truth: for each
primitive, the best AUC among latents vs. among neurons, on images of isolated primitives
(each image one primitive alone, so co-occurrence in scenes cannot inflate or blur a unit's
selectivity) and, as a second table, on full toy scenes. The page shows the table, the
SAE's reconstruction metrics and (when the featvis gallery is available) visualisations of
the best latents. Later stages find the SAE in ``ctx.shared["sae"]``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from visioncircuits.atomic import write_json
from visioncircuits.demo import Artefact, DemoContext
from visioncircuits.errors import VisionCircuitsError
from visioncircuits.report import write_page

log = logging.getLogger(__name__)

TITLE = "Sparse autoencoders: latents recover the primitives that neurons mix"
MODEL = "toy-narrow-s0"


# The SAE reads the pre-activation of the primitive layer (``conv3`` = conv + BN, before
# ``relu3``): the superposition lives there (the auxiliary head that forced 26 primitives
# into 12 channels reads these pre-activations, negative values included), and the ReLU
# throws part of it away. Neurons are scored on the same layer; a channel's spatial max is
# the same before and after the ReLU (up to ties at 0), so the neuron numbers equal relu3's.
SAE_LAYER = "conv3"
# Share of each training image batch that is one primitive alone (no labels used): in scenes
# rare primitives are too few samples for a dictionary to give them their own latent.
ISOLATED_FRACTION = 0.3


def settings(quick: bool) -> dict:
    if quick:
        return {
            "d_sae": 64,
            "k": 1,
            "steps": 30,
            "batch_size": 512,
            "image_batch": 8,
            "n_label": 200,
            "per_primitive": 8,
            "eval_images": 32,
            "gallery_units": 1,
            "gallery_steps": 8,
        }
    return {
        "d_sae": 256,
        "k": 1,
        "steps": 1000,
        "batch_size": 2048,
        "image_batch": 32,
        "n_label": 1000,
        "per_primitive": 32,
        "eval_images": 256,
        "gallery_units": 12,
        "gallery_steps": 128,
    }


def _gallery(ctx: DemoContext, model, layer: str, sae_dir: Path, rec, s: dict, out: Path) -> str | None:
    from visioncircuits.featvis.gallery import build_gallery

    best = sorted(range(len(rec.primitives)), key=lambda p: -rec.latent_auc[p])
    units, notes = [], {}
    for p in best:
        i = int(rec.latent_index[p])
        if i not in units:
            units.append(i)
            notes[i] = f"{rec.primitives[p]} (AUC {rec.latent_auc[p]:.3f})"
        if len(units) == s["gallery_units"]:
            break
    res = build_gallery(
        model,
        layer,
        out / "gallery",
        units=units,
        unit_spec=f"sae:{sae_dir}",
        steps=s["gallery_steps"],
        seed=ctx.seed,
        unit_notes=notes,
        progress=False,
        exact=True,  # a killed and resumed demo draws the same images (RenderConfig.exact)
    )
    return os.path.relpath(res.index, out) if res.index else None


def _run(ctx: DemoContext) -> list[Artefact]:
    from visioncircuits.sae.pipeline import train_layer_sae
    from visioncircuits.sae.toy_recovery import primitive_recovery
    from visioncircuits.sae.train import TrainConfig
    from visioncircuits.zoo import get_spec, load_model

    s = settings(ctx.quick)
    spec = get_spec(MODEL)
    if not spec.default_weights or not Path(spec.default_weights).exists():
        raise RuntimeError(
            f"no weights for {MODEL} in models/toy: train it with 'visioncircuits toyworld train narrow --seed 0'"
        )
    model = load_model(MODEL, device=ctx.device)
    layer = SAE_LAYER
    out = ctx.stage_dir("sae")
    sae_dir = out / "sae"
    cfg = TrainConfig(
        d_sae=s["d_sae"],
        k=s["k"],
        steps=s["steps"],
        batch_size=s["batch_size"],
        lr=2e-3,
        seed=ctx.seed,
        warmup_steps=min(50, s["steps"] // 5),
        dead_after=20 * s["batch_size"],
        checkpoint_every=100,
    )
    sae, metrics = train_layer_sae(
        model,
        layer,
        cfg,
        sae_dir,
        toyworld=True,
        image_batch=s["image_batch"],
        eval_images=s["eval_images"],
        progress=False,
        isolated_fraction=ISOLATED_FRACTION,
        overwrite=True,  # the demo owns its folder: a run with other settings (e.g. --quick) replaces it
    )
    rec = primitive_recovery(
        model, layer, sae, seed=ctx.seed + 777_001, probe="isolated", per_primitive=s["per_primitive"]
    )
    scenes = primitive_recovery(model, layer, sae, n=s["n_label"], seed=ctx.seed + 777_001, probe="scenes")
    summary = rec.summary()
    gallery, gallery_error = None, None
    try:
        gallery = _gallery(ctx, model, layer, sae_dir, rec, s, out)
    except (
        RuntimeError,
        ValueError,
        OSError,
        VisionCircuitsError,
    ) as e:  # the table stands; the failure is shown, not hidden
        gallery_error = f"{type(e).__name__}: {e}"
        log.warning("SAE latent gallery failed: %s", gallery_error)
    write_json(
        out / "recovery.json",
        {
            "summary": summary,
            "rows": rec.rows(),
            "scenes_summary": scenes.summary(),
            "scenes_rows": scenes.rows(),
            "metrics": metrics,
            "gallery": {"href": gallery, "error": gallery_error},
        },
    )
    keep = ("explained_variance", "nmse", "l0", "dead_fraction", "loss_recovered", "loss_kind")
    page = write_page(
        out / "index.html",
        "sae_toy.html.j2",
        model=MODEL,
        layer=layer,
        channels=model.channels(layer),
        summary=summary,
        rows=rec.rows(),
        n_images=26 * s["per_primitive"],
        scenes=scenes.summary(),
        n_scenes=s["n_label"],
        gallery=gallery,
        gallery_error=gallery_error,
        metrics={k: metrics[k] for k in keep if k in metrics},
        sae={
            "architecture": cfg.architecture,
            "d_sae": cfg.d_sae,
            "k": cfg.k,
            "steps": cfg.steps,
            "isolated_fraction": ISOLATED_FRACTION,
        },
        sae_dir_rel=os.path.relpath(sae_dir, ctx.out),
    )
    ctx.shared["sae"] = {"dir": str(sae_dir), "model": MODEL, "layer": layer, "summary": summary}
    rel = os.path.relpath(page, ctx.out)
    text = (
        f"{100 * summary['latents_recovered']:.0f}% of primitives have a latent with AUC >= {summary['threshold']} "
        f"vs {100 * summary['neurons_recovered']:.0f}% for neurons; explained variance "
        f"{metrics.get('explained_variance', float('nan')):.3f}, "
        f"loss recovered {metrics.get('loss_recovered', float('nan')):.3f}"
        + (f"; latent gallery FAILED ({gallery_error})" if gallery_error else "")
    )
    return [
        Artefact(
            "SAE latents vs neurons on the narrow toy model",
            rel,
            text,
            metrics={**summary, **{k: metrics.get(k) for k in keep}},
        )
    ]


def run(ctx: DemoContext) -> list[Artefact]:
    """The stage on one thread with deterministic kernels: a demo seed prints the same numbers on
    any machine (with the thread count left to torch, a fresh clone on another CPU printed 69 %
    where this page said 73 %)."""
    from visioncircuits.device import deterministic

    with deterministic(threads=1):
        return _run(ctx)
