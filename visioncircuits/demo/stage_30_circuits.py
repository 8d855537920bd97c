"""Demo stage 30: the circuit of one toy class, and how well circuits recover ground truth.

The class logit of ``car`` is traced two main layers down with expanded weights (data-free);
nodes carry their ground-truth labels and feature visualisations, and the page is the
interactive diagram with the circuit's faithfulness and completeness (mean ablation on
generated toy-world scenes, against random circuits). Then, for every toy model with weights
on disk, precision@k: how many
of the units with the strongest excitatory influence on each class logit (at the primitive
layer) are labelled with that class's own primitives.
"""
from __future__ import annotations

import logging

from visioncircuits.atomic import write_json
from visioncircuits.demo import Artefact, DemoContext

log = logging.getLogger(__name__)

TITLE = "Circuits: how a toy class is assembled from primitives"
MODEL, CLASS = "toy-vgg-s0", "car"


def _settings(quick: bool) -> dict:
    if quick:
        return {"top_k": 2, "steps": 8, "n_label": 120, "methods": ("weights",), "models": (MODEL,), "ks": (3,),
                "metric_images": 16, "null": 20}
    return {
        "top_k": 3,
        "steps": 128,
        "n_label": 1000,
        "methods": ("weights", "attribution"),
        "models": None,
        "ks": (1, 2, 3, "auto"),
        "metric_images": 64,
        "null": 100,
    }


def _labeller(model, n: int):
    """Scene labels per layer, computed once: (labels(layer, i) for nodes, {layer: [primitive]})."""
    from visioncircuits.toyworld import generate
    from visioncircuits.toyworld.labels import LABEL_SEED, label_units

    cache: dict = {}

    def get(layer: str):
        if "data" not in cache:  # one set of labelling images for every layer
            cache["data"] = generate(n, seed=LABEL_SEED, size=int(model.spec.input_size))
        if layer not in cache:
            cache[layer] = label_units(model, layer, data=cache["data"])
        return cache[layer]

    def labels(layer: str, index: int) -> str:
        x = get(layer)[index]
        return x.label if x.confident else f"unclear (best: {x.label})"

    return labels, get


def run(ctx: DemoContext) -> list[Artefact]:
    from visioncircuits.circuits.export import export_all
    from visioncircuits.circuits.graph import build_circuit
    from visioncircuits.circuits.metrics import metrics_lines, toyworld_dataset
    from visioncircuits.circuits.toy import class_scores, precision_at_k
    from visioncircuits.circuits.vis import render_node_vis
    from visioncircuits.toyworld import CLASS_PRIMITIVES, CLASSES
    from visioncircuits.zoo import load_model
    from visioncircuits.zoo.toy import toy_names, toy_spec

    s = _settings(ctx.quick)
    out = ctx.stage_dir("circuits")
    if not toy_spec("vgg", 0).has_default_weights:
        raise RuntimeError(
            f"no weights for {MODEL} in models/toy: train it with 'visioncircuits toyworld train vgg --seed 0'"
        )
    model = load_model(MODEL, device=ctx.device)
    target = f"logit:{CLASSES.index(CLASS)}"
    labels, get_labels = _labeller(model, s["n_label"])
    images = toyworld_dataset(model, s["metric_images"], seed=0)  # node statistics and circuit metrics
    graph = build_circuit(model, target, depth=2, top_k=s["top_k"], method="weights", rank="positive", labels=labels,
                          dataset=images, n_images=s["metric_images"], metrics=True, null_samples=s["null"])
    graph.graph["title_note"] = f"{CLASS} = " + " + ".join(CLASS_PRIMITIVES[CLASS])
    render_node_vis(model, graph, out / CLASS / "vis", steps=s["steps"])
    paths = export_all(graph, out / CLASS, stem="circuit")

    rows, details = [], []
    names = s["models"] or [n for n in toy_names() if toy_spec(*_arch_seed(n)).has_default_weights]
    for name in names:
        m = model if name == MODEL else load_model(name, device=ctx.device)
        layer = m.spec.extra["primitive_layer"]
        best = [x.primitive for x in (get_labels(layer) if m is model else _labeller(m, s["n_label"])[1](layer))]
        for method in s["methods"]:
            scores = class_scores(m, layer, method)
            for k in s["ks"]:
                p = precision_at_k(scores, best, k, layer, name, method)
                rows.append(p.as_row())
                details.append({"model": name, "method": method, "k": k, "classes": [c.__dict__ for c in p.classes]})
    write_json(out / "precision.json", {"rows": rows, "details": details})
    depth2 = [d["label"] for _, d in graph.nodes(data=True) if d["depth"] == 2]
    mean = {f"{r['model']} {r['method']}": r["mean"] for r in rows if r["k"] == 3}
    summary = "; ".join(f"{k}: {v:.2f}" for k, v in mean.items())
    return [
        Artefact(
            f"Circuit of '{CLASS}' in {MODEL} (interactive)",
            f"circuits/{CLASS}/{paths['html'].name}",
            f"depth-2 units: {', '.join(depth2)}; expected primitives: {', '.join(CLASS_PRIMITIVES[CLASS])}; "
            + "; ".join(metrics_lines(graph.graph["metrics"])[:2]),
            {"nodes": graph.number_of_nodes(), "edges": graph.number_of_edges(),
             "faithfulness": graph.graph["metrics"].get("faithfulness"),
             "completeness": graph.graph["metrics"].get("completeness")},
        ),
        Artefact(
            f"Circuit of '{CLASS}' as GraphML / JSON / GEXF / DOT",
            f"circuits/{CLASS}/{paths['graphml'].name}",
            "also circuit.json, circuit.gexf, circuit.dot in the same folder",
        ),
        Artefact(
            "Precision@3 of class circuits vs ground truth", "circuits/precision.json", summary, {"precision@3": mean}
        ),
    ]


def _arch_seed(name: str) -> tuple[str, int]:
    arch, seed = name[4:].rsplit("-s", 1)
    return arch, int(seed)
