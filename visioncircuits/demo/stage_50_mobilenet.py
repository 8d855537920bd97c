"""Demo stage 50: the tool on real ImageNet CNNs, the shipped MobileNetV2 and MobileNetV1.

Four parts, each a few units so the stage fits the demo's 10-minute budget on 2 cores:

- a gallery of an early, a middle and a late MobileNetV2 layer (renders; dataset examples
  from the photos);
- the dog circuit: a late unit whose top photos are mostly dogs (found by
  ``scripts/reproduce_mobilenet_dog_circuit.py`` on the 1,000 ImageNet sample photos; with
  ImageNet-named photos it is re-selected from them) traced two main layers down, by
  activation x gradient on the dog photos when there are any, on all photos otherwise, and
  by expanded weights (data-free) when there are no photos at all; with photos, its circuit
  metrics (faithfulness, completeness, a small random-circuit null) on photos held out from the
  attribution ones;
- universality of MobileNetV1 vs MobileNetV2 (CKA layer correspondence, unit matching
  against both nulls, stimulus transfer);
- an SAE on a middle MobileNetV2 layer with a latent gallery.

Photos come from ``--dataset`` (``ctx.dataset``); without it, from scikit-image's public
domain / CC0 samples (random crops multiply them), and the page says which.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Optional

import torch

from visioncircuits.atomic import write_json
from visioncircuits.demo import Artefact, DemoContext

log = logging.getLogger(__name__)

TITLE = "Real ImageNet CNNs: MobileNetV2 and V1 (gallery, dog circuit, universality, SAE)"
MODEL, OTHER = "mobilenet-v2", "mobilenet-v1"
GALLERY_LAYERS = ("blocks.2", "blocks.9", "blocks.15")
DOG_LAYER = "blocks.15"
DOG_UNIT = 48  # measured: the top dog unit of blocks.15 on the 1,000 sample photos, 6/9 dogs (results/mobilenet_dog_circuit.json)  # noqa: E501
SAE_LAYER = "blocks.9"


def _settings(quick: bool) -> dict:
    if quick:
        return {
            "units": 1,
            "steps": 4,
            "size": 64,
            "max_examples": 16,
            "k": 3,
            "top_k": 2,
            "attr_images": 4,
            "held_out": 4,
            "null": 2,
            "n_probe": 8,
            "grid": 2,
            "featvis": 0,
            "top_pairs": 2,
            "random_null": False,
            "d_sae": 64,
            "sae_k": 4,
            "sae_steps": 3,
            "sae_batch": 256,
            "eval_images": 4,
            "latents": 2,
        }
    return {
        "units": 4,
        "steps": 64,
        "size": 128,
        "max_examples": 300,
        "k": 6,
        "top_k": 2,
        "attr_images": 24,
        "held_out": 24,
        "null": 20,
        "n_probe": 100,
        "grid": 4,
        "featvis": 32,
        "top_pairs": 3,
        "random_null": True,
        "d_sae": 512,
        "sae_k": 16,
        "sae_steps": 150,
        "sae_batch": 1024,
        "eval_images": 40,
        "latents": 6,
    }


def _photos(ctx: DemoContext, out: Path) -> tuple[Path, str, bool]:
    """(photo folder, the sentence the page shows about it, whether they are the user's)."""
    if ctx.dataset is not None:
        return Path(ctx.dataset), f"your photos from {ctx.dataset} (--dataset).", True
    from visioncircuits.demo.builtin_images import write_builtin_images

    folder = out / "builtin_images"
    lic = write_builtin_images(folder)
    if not lic:
        return (
            folder,
            "none: no --dataset was given and scikit-image is not installed, so only renders are shown.",
            False,
        )
    names = ", ".join(f"{k.rsplit('.', 1)[0]} ({v})" for k, v in lic.items())
    return (
        folder,
        (
            f"no --dataset was given, so the {len(lic)} sample images that scikit-image ships are used: {names}. "
            "They are few and not ImageNet photos: dataset examples, the SAE and the universality probes "
            "(random crops of them) are illustrations, not measurements. Pass --dataset DIR for real ones."
        ),
        False,
    )


def _crops(folder: Path, n: int, size: int, seed: int) -> torch.Tensor:
    """``n`` random crops (scale 0.3..1 of the short side) with flips, for probes from few images."""
    import torch.nn.functional as F

    from visioncircuits.data import list_images, none_readable, read_images

    paths = list_images(folder)
    _, imgs, skipped = read_images(paths, 2 * size)  # unreadable files are skipped, as everywhere
    if not imgs:
        raise none_readable(folder, len(paths), skipped)
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        im = imgs[i % len(imgs)]
        s = int(im.shape[-1] * (0.3 + 0.7 * float(torch.rand(1, generator=gen))))
        y, x = (int(torch.randint(0, im.shape[-1] - s + 1, (1,), generator=gen)) for _ in range(2))
        c = F.interpolate(
            im[None, :, y : y + s, x : x + s], size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )[0]
        out.append(c.flip(-1) if i % 2 else c)
    return torch.stack(out).clamp(0, 1)


def _render_config(s: dict, seed: int):
    """The one set of render settings for this stage's neuron and SAE-latent galleries
    (``exact``: a killed and resumed demo draws the same images)."""
    from visioncircuits.featvis.config import RenderConfig

    return RenderConfig(steps=s["steps"], size=s["size"], seed=seed, progress=False, exact=True)


def _gallery(model, out: Path, folder, s: dict, seed: int) -> list[dict]:
    from visioncircuits.featvis.gallery import build_gallery

    rows = []
    for layer in GALLERY_LAYERS:
        units = list(range(s["units"]))
        res = build_gallery(
            model,
            layer,
            out / f"gallery_{layer}",
            _render_config(s, seed),
            units=units,
            dataset=folder,
            k=s["k"],
            max_examples=s["max_examples"],
        )
        rows.append({"layer": layer, "units": units, "href": os.path.relpath(res.index, out) if res.index else ""})
    return rows


def _dog_photos(folder) -> tuple[list[Path], int]:
    """ImageNet-named photos (``<wnid>_...``) of dog classes, and how many photos carry a wnid."""
    from visioncircuits.data import list_images
    from visioncircuits.zoo.imagenet_classes import DOG_CLASSES, imagenet_wnids

    index = {w: i for i, w in enumerate(imagenet_wnids())}
    paths = list_images(folder)
    named = [p for p in paths if p.name.split("_")[0] in index]
    dogs = [p for p in named if index[p.name.split("_")[0]] in DOG_CLASSES]
    return dogs, len(named)


def _circuit(model, out: Path, folder, has_photos: bool, s: dict, device) -> dict:
    from visioncircuits.circuits.export import export_all
    from visioncircuits.circuits.graph import build_circuit
    from visioncircuits.circuits.metrics import metrics_lines
    from visioncircuits.circuits.vis import render_node_vis
    from visioncircuits.data import list_images, read_images

    def stack(paths: list[Path]) -> Optional[torch.Tensor]:
        imgs = read_images(paths, size)[1]  # unreadable files are skipped, as everywhere
        return torch.stack(imgs) if imgs else None

    size = int(model.spec.input_size)
    dogs, named = _dog_photos(folder) if has_photos else ([], 0)
    target = f"{DOG_LAYER}:{DOG_UNIT}"
    n, n_held = s["attr_images"], s["held_out"]
    held_paths: list[Path] = []
    kind = ""
    if dogs:
        images = stack(dogs[:n])
        held_paths, kind = dogs[n : n + n_held], "dog photos"
        note = (
            f"Unit {target} (its top photos among the 1,000 ImageNet samples are mostly dogs) traced by activation x gradient "  # noqa: E501
            f"on {0 if images is None else len(images)} dog photos of your dataset."
        )
    elif has_photos:
        paths = list_images(folder)
        images = stack(paths[:n])
        held_paths, kind = paths[n : n + n_held], "photos (not only dogs: none is named by an ImageNet dog wnid)"
        note = (
            f"Unit {target} (its top photos among the 1,000 ImageNet samples are mostly dogs) traced by activation x gradient "  # noqa: E501
            f"on {0 if images is None else len(images)} photos (none named by an ImageNet dog wnid, so not only dogs)."
        )
    else:
        images = None
        note = f"Unit {target} traced by expanded weights (data-free: no photos)."
    held = stack(held_paths)
    held = held.to(device) if held is not None else None
    if images is not None:
        g = build_circuit(
            model,
            target,
            depth=2,
            top_k=s["top_k"],
            method="attribution",
            dataset=images.to(device),
            rank="positive",
            n_images=len(images),
            metrics=held is not None,
            null_samples=s["null"],
            seed=0,
            held_out=held,
        )
    else:
        g = build_circuit(model, target, depth=2, top_k=s["top_k"], method="weights", rank="positive")
    metrics, metrics_note = _circuit_metrics(g.graph["metrics"], images, held, kind, s)
    render_node_vis(model, g, out / "circuit" / "vis", steps=s["steps"], size=s["size"])
    paths = export_all(g, out / "circuit", stem="dog_circuit", title=f"Dog unit {target} of {MODEL} and its inputs")
    nodes = [
        {"unit": n, "depth": d["depth"], "classes": ""}
        for n, d in sorted(g.nodes(data=True), key=lambda x: (x[1]["depth"], x[0]))
    ]
    return {
        "title": f"dog unit {target} of {MODEL}",
        "note": note,
        "href": os.path.relpath(paths["html"], out),
        "nodes": nodes,
        "has_classes": False,
        "n_nodes": g.number_of_nodes(),
        "n_edges": g.number_of_edges(),
        "method": g.graph["method"],
        "metrics": metrics,
        "metrics_note": metrics_note,
        "metrics_lines": metrics_lines(metrics),
    }


def _circuit_metrics(record: dict, images, held, kind: str, s: dict) -> tuple[dict, str]:
    """The circuit's metrics record and the sentence the page shows about how it was measured."""
    from visioncircuits.circuits.metrics import not_computed

    if images is None:  # the built-in crops are not dogs: a dog unit's metrics on them would mean little
        reason = (
            "no photos: the circuit was built from weights alone, and the built-in scikit-image "
            "samples are not dog photos, so they cannot show what this dog unit's circuit does"
        )
        return not_computed(reason), "Not computed: " + reason + ". Pass --dataset with ImageNet-named dog photos."
    if held is None:
        reason = f"no {kind} left besides the {len(images)} used for attribution"
        return not_computed(reason), "Not computed: " + reason + "."
    return record, (
        f"Mean ablation; reference means over the {len(images)} attribution photos, measured on {len(held)} other "
        f"{kind} held out from attribution; random-circuit null of {s['null']} circuits (small, to keep the stage "
        "cheap: its z-scores are rough; scripts/reproduce_mobilenet_dog_circuit.py measures the full dog circuit)."
    )


def _universality(out: Path, folder, has_photos: bool, s: dict, device, seed: int) -> dict:
    from visioncircuits.universality.compare import CompareSettings
    from visioncircuits.universality.depth_alignment import depth_alignment
    from visioncircuits.universality.pipeline import ReportOptions, run_universality
    from visioncircuits.universality.probes import FolderProbes, TensorProbes

    if has_photos:
        probes = FolderProbes(folder, 224, limit=s["n_probe"])
    else:
        from visioncircuits.data import list_images

        if not list_images(folder):
            return {"note": "skipped: no photos", "href": "", "rows": [], "spearman": "-", "significant": "-"}
        probes = TensorProbes(_crops(folder, s["n_probe"], 224, seed), name="scikit-image sample crops")
    opts = ReportOptions(
        top_pairs=s["top_pairs"],
        featvis_steps=s["featvis"],
        featvis_size=96,
        random_null=s["random_null"],
        compare=CompareSettings(
            batch_size=min(50, max(4, s["n_probe"])),
            grid=s["grid"],
            n_permutations=1,
            top_examples=4,
            seed=seed,
            progress=False,
        ),
    )
    rep = run_universality([OTHER, MODEL], probes, out / "universality", options=opts, device=device)
    pair = rep["pairs"][0]
    da = depth_alignment(pair["cka"]["matrix"], pair["cka"]["layers_a"], pair["cka"]["layers_b"])
    m = pair["matching"]
    return {
        "note": f"{rep['probes']['n_images']} probe images ({rep['probes']['description']}); every main layer of both nets.",  # noqa: E501
        "href": "universality/report.html",
        "rows": da["rows"],
        "spearman": da["spearman_index_vs_argmax"],
        "significant": f"{m['n_significant']} of {len(m['matches'])}",
        "alignment": {k: v for k, v in da.items() if k != "rows"},
    }


def _sae(model, out: Path, folder, has_photos: bool, s: dict, seed: int) -> dict:
    from visioncircuits.data import list_images
    from visioncircuits.featvis.gallery import build_gallery
    from visioncircuits.sae.pipeline import train_layer_sae
    from visioncircuits.sae.train import TrainConfig

    if not list_images(folder):
        return {"layer": SAE_LAYER, "note": "skipped: no photos to train on", "metrics": [], "href": ""}
    sae_dir = out / "sae"
    cfg = TrainConfig(
        d_sae=s["d_sae"],
        k=s["sae_k"],
        steps=s["sae_steps"],
        batch_size=s["sae_batch"],
        lr=2e-3,
        seed=seed,
        warmup_steps=min(20, s["sae_steps"] // 5),
        dead_after=20 * s["sae_batch"],
        checkpoint_every=50,
        init_samples=4 * s["sae_batch"],
    )
    sae, metrics = train_layer_sae(
        model,
        SAE_LAYER,
        cfg,
        sae_dir,
        dataset=folder,
        image_batch=8,
        buffer=4 * s["sae_batch"],
        eval_images=s["eval_images"],
        progress=False,
        overwrite=True,  # the demo owns its folder: a run with other settings (e.g. --quick) replaces it
    )
    fires = sae.cfg.get("training", {}).get("fire_counts")
    latents = (
        list(range(s["latents"]))
        if fires is None
        else sorted(range(len(fires)), key=lambda i: -fires[i])[: s["latents"]]
    )
    res = build_gallery(
        model,
        SAE_LAYER,
        out / "sae_gallery",
        _render_config(s, seed),
        units=latents,
        unit_spec=f"sae:{sae_dir}",
        dataset=folder,
        k=s["k"],
        max_examples=s["max_examples"],
    )
    keys = ("explained_variance", "l0", "dead_fraction", "loss_recovered")
    data = "held-out photos (every 5th file)" if has_photos else "the same sample images (too few to hold any out)"
    return {
        "layer": SAE_LAYER,
        "note": f"TopK SAE, {s['d_sae']} latents, k={s['sae_k']}, {s['sae_steps']} steps on random crops; "
        f"metrics on {data}.",
        "metrics": [(k, f"{metrics[k]:.3f}") for k in keys if k in metrics],
        "raw": {k: metrics.get(k) for k in keys},
        "href": os.path.relpath(res.index, out) if res.index else "",
    }


def run(ctx: DemoContext) -> list[Artefact]:
    from visioncircuits.report import write_page
    from visioncircuits.zoo import load_model

    s = _settings(ctx.quick)
    out = ctx.stage_dir("mobilenet")
    torch.manual_seed(ctx.seed)
    folder, data_note, has_photos = _photos(ctx, out)
    model = load_model(MODEL, device=ctx.device)
    cpu = {}  # CPU seconds per part: wall time on a shared machine says little

    def timed(name, fn, *a):
        c0 = time.process_time()
        r = fn(*a)
        cpu[name] = round(time.process_time() - c0, 1)
        return r

    galleries = timed("gallery", _gallery, model, out, folder if any(folder.glob("*")) else None, s, ctx.seed)
    circuit = timed("circuit", _circuit, model, out, folder, has_photos, s, model.device)
    uni = timed("universality", _universality, out, folder, has_photos, s, ctx.device, ctx.seed)
    sae = timed("sae", _sae, model, out, folder, has_photos, s, ctx.seed)
    write_json(
        out / "summary.json",
        {
            "cpu_seconds": cpu,
            "data": data_note,
            "user_photos": has_photos,
            "galleries": galleries,
            "circuit": {k: v for k, v in circuit.items() if k != "nodes"}
            | {"nodes": [n["unit"] for n in circuit["nodes"]]},
            "universality": {k: v for k, v in uni.items() if k != "rows"},
            "sae": {k: v for k, v in sae.items() if k != "metrics"},
        },
    )
    page = write_page(
        out / "index.html",
        "demo_mobilenet.html.j2",
        data_note=data_note,
        galleries=galleries,
        circuit=circuit,
        uni=uni,
        sae=sae,
        quick=ctx.quick,
        has_examples=any(folder.glob("*")),
    )
    src = "your photos" if has_photos else "scikit-image samples"
    return [
        Artefact(
            "MobileNet page: gallery, dog circuit, V1 vs V2 universality, SAE",
            os.path.relpath(page, ctx.out),
            f"images: {src}",
        ),
        Artefact(
            f"Dog circuit of {MODEL} (interactive)",
            f"mobilenet/{circuit['href']}",
            f"{circuit['n_nodes']} nodes, {circuit['n_edges']} edges, {circuit['method']}",
            {"nodes": circuit["n_nodes"], "edges": circuit["n_edges"]},
        ),
        Artefact(
            "Universality: MobileNetV1 vs MobileNetV2",
            f"mobilenet/{uni['href']}" if uni["href"] else "mobilenet/index.html",
            f"Spearman(V1 layer, most similar V2 layer) = {uni['spearman']}; significant matches {uni['significant']}",
            {"spearman": uni["spearman"]},
        ),
        Artefact(
            f"SAE on {MODEL} {SAE_LAYER}",
            f"mobilenet/{sae['href']}" if sae["href"] else "mobilenet/index.html",
            ", ".join(f"{k} {v}" for k, v in sae["metrics"]),
            sae.get("raw", {}),
        ),
    ]
