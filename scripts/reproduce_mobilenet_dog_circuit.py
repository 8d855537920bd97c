"""A real circuit on MobileNetV2, the user's example "curves + fur -> dog ear".

1. Every main layer's spatially averaged activations on the 1,000 ImageNet sample photos
   (one photo per class; 118 of them are dogs, classes 151..268: base rate 11.8%).
2. In a late layer (``--layer``, default blocks.15), the ``--targets`` channels whose top-9
   photos are most often dogs.
3. Their inputs traced two main layers down with activation x gradient on the dog photos
   (``build_circuit(..., method="attribution", dataset=dog photos)``), ``--top-k`` per node.
4. Every node rendered (feature visualisation), and described by its top photos' classes.
5. The graph exported (GraphML / JSON / GEXF / DOT + the HTML diagram) to ``--out`` and
   ``results/mobilenet_dog_circuit/``; the summary to ``results/mobilenet_dog_circuit.json``.
6. Circuit metrics per target (faithfulness, completeness, a ``--null``-circuit random null, the
   faithfulness curve): reference means over the attribution dog photos, measured on the *other*
   dog photos (held out: never used for attribution), under one deterministic thread.

    python scripts/reproduce_mobilenet_dog_circuit.py [--dataset ../shared/data/imagenet-samples]
    python scripts/reproduce_mobilenet_dog_circuit.py --metrics-only   # add only step 6

``--metrics-only`` rebuilds the committed targets' graphs on the same attribution photos (no
renders, no exports: the committed graph files and the diagram screenshot stay as they are),
checks they equal the committed edges, and adds the metrics to the existing results JSON.

Nothing from the photos is written into the repository: only unit indices, class names and renders.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODEL = "mobilenet-v2"


def load_photos(folder: Path, size: int, classes=None):
    """All photos (or those of ``classes``) as one tensor, with their class index from the wnid in the file name."""
    import torch

    from visioncircuits.data import list_images, load_image
    from visioncircuits.zoo.imagenet_classes import imagenet_wnids

    wnids = {w: i for i, w in enumerate(imagenet_wnids())}
    paths = [p for p in sorted(list_images(folder)) if p.name.split("_")[0] in wnids]
    if classes is not None:
        paths = [p for p in paths if wnids[p.name.split("_")[0]] in classes]
    if not paths:
        raise SystemExit(f"no ImageNet-named photos (<wnid>_<name>.jpg) in {folder}")
    return torch.stack([load_image(p, size) for p in paths]), [wnids[p.name.split("_")[0]] for p in paths]


def mean_activations(model, images, layers, batch=25):
    """{layer: (N, C)} spatial means, one forward pass per batch."""
    import torch

    out = {layer: [] for layer in layers}
    with torch.no_grad():
        for s in range(0, len(images), batch):
            acts = model.run_with_cache(images[s : s + batch].to(model.device), layers)
            for layer in layers:
                out[layer].append(acts[layer].float().mean((2, 3)).cpu())
    return {layer: torch.cat(v) for layer, v in out.items()}


def dog_graphs(model, layer: str, targets: list[int], attr, held, top_k: int, null: int, label=None):
    """One attribution circuit per target unit, with its metrics measured on ``held`` (held-out dogs)."""
    from visioncircuits.circuits.graph import build_circuit
    from visioncircuits.device import deterministic

    graphs = []
    t0, c0 = time.perf_counter(), time.process_time()
    with deterministic(threads=1):
        for t in targets:
            graphs.append(build_circuit(model, f"{layer}:{t}", depth=2, top_k=top_k, method="attribution",
                                        dataset=attr, rank="positive", n_images=len(attr), labels=label,
                                        progress=True, metrics=True, null_samples=null, seed=0, held_out=held))
    wall, cpu = round(time.perf_counter() - t0, 1), round(time.process_time() - c0, 1)
    return graphs, {"wall_seconds": wall, "cpu_seconds": cpu,
                    "torch_threads": 1, "covers": "building the graphs and measuring their metrics"}


def metrics_summary(graphs) -> dict:
    """{target: metrics record} plus how the images were split."""
    return {str(g.graph["target"]): g.graph["metrics"] for g in graphs}


def metrics_only(args) -> int:
    """Add the circuit metrics to the committed results without re-rendering or re-exporting."""
    import json

    from visioncircuits.atomic import write_json
    from visioncircuits.zoo import load_model
    from visioncircuits.zoo.imagenet_classes import DOG_CLASSES

    res_path = Path(args.results)
    result = json.loads(res_path.read_text())
    model = load_model(MODEL)
    dogs, _ = load_photos(Path(args.dataset), int(model.spec.input_size), set(DOG_CLASSES))
    n_attr = int(result["circuit"]["attribution_images"].split()[1])
    if len(dogs) <= n_attr:
        raise SystemExit(f"only {len(dogs)} dog photos: none left out of the {n_attr} used for attribution")
    targets = [int(t["unit"]) for t in result["targets"]]
    graphs, runtime = dog_graphs(model, result["layer"], targets, dogs[:n_attr], dogs[n_attr:],
                                 int(result["circuit"]["top_k"]), args.null)
    committed = sorted((e["from"], e["to"]) for e in result["circuit"]["edges"])
    if sorted(e for g in graphs for e in g.edges) != committed:
        raise SystemExit("the rebuilt graphs differ from the committed edges; rerun the full script")
    result["circuit"]["metrics"] = metrics_summary(graphs)
    result["circuit"]["metrics_images"] = metrics_images(n_attr, len(dogs) - n_attr, args.null)
    result["runtime"]["metrics"] = runtime | {
        "command": "python scripts/reproduce_mobilenet_dog_circuit.py " + " ".join(sys.argv[1:])}
    for k in ("wall_seconds", "cpu_seconds"):  # the main run's totals, at the top level like other results files
        result.setdefault(k, result["runtime"][k])
    write_json(res_path, result)
    for g in graphs:
        m = g.graph["metrics"]
        print(f"{g.graph['target']}: faithfulness {m.get('faithfulness')}, completeness {m.get('completeness')}")
    return 0


def metrics_images(n_attr: int, n_held: int, null: int) -> dict:
    return {"reference": f"first {n_attr} dog photos (the attribution photos): ablation means",
            "held_out": f"the other {n_held} dog photos: every metric is measured on them",
            "null_samples": null, "seed": 0}


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    shared = Path(os.environ.get("VISIONCIRCUITS_SHARED", REPO.parent / "shared"))
    p.add_argument("--dataset", default=str(shared / "data" / "imagenet-samples"))
    p.add_argument("--layer", default="blocks.15")
    p.add_argument("--targets", type=int, default=2)
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--attr-images", type=int, default=32, help="dog photos used for attribution")
    p.add_argument("--steps", type=int, default=64, help="render steps per node (0: no renders)")
    p.add_argument("--size", type=int, default=128, help="render size (px)")
    p.add_argument("--out", default="/tmp/mobilenet-dog-circuit")
    p.add_argument("--results", default=str(REPO / "results" / "mobilenet_dog_circuit.json"))
    p.add_argument("--null", type=int, default=100, help="random circuits in the metrics' null")
    p.add_argument("--metrics-only", action="store_true",
                   help="only add circuit metrics to the existing --results (no renders, no graph files)")
    args = p.parse_args()
    if args.null < 1:
        p.error("--null must be >= 1")
    if args.metrics_only:
        return metrics_only(args)

    import networkx as nx
    import torch

    from visioncircuits.atomic import write_json
    from visioncircuits.circuits.class_selective import group_shares, group_units, top_classes
    from visioncircuits.circuits.export import export_all
    from visioncircuits.circuits.vis import render_node_vis
    from visioncircuits.units import parse_unit
    from visioncircuits.zoo import load_model
    from visioncircuits.zoo.imagenet_classes import DOG_CLASSES, imagenet_class_names

    t0, c0 = time.perf_counter(), time.process_time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(MODEL)
    names = imagenet_class_names()
    dogs = set(DOG_CLASSES)
    images, labels = load_photos(Path(args.dataset), int(model.spec.input_size))
    base_rate = sum(lab in dogs for lab in labels) / len(labels)
    layers = [l for l in model.spec.main_layers if l not in ("stem_relu6", "blocks.0")]
    cache = out / "acts.pt"
    if cache.exists():
        acts = torch.load(cache, weights_only=True)
    else:
        acts = mean_activations(model, images, layers)
        torch.save(acts, cache)
    t_acts = time.perf_counter() - t0

    # dog-selective units per layer: how many reach 7/9 dogs (base rate 11.8%)
    per_layer = {}
    for layer in layers:
        s9 = group_shares(acts[layer], labels, dogs, 9)
        per_layer[layer] = {
            "units": int(s9.numel()),
            "max_share_top9": round(float(s9.max()), 4),
            "units_share9_ge_0.67": int((s9 >= 6 / 9 - 1e-6).sum()),
            "mean_share_top9": round(float(s9.mean()), 4),
        }
    targets = group_units(acts[args.layer], labels, dogs, n=args.targets)

    def describe(layer: str, index: int) -> dict:
        return top_classes(acts[layer], labels, names, index, 9, dogs) if layer in acts else {}

    def label(layer: str, index: int) -> str:
        d = describe(layer, index)
        if not d:
            return ""
        common = ", ".join(c for c, _ in d["common"][:2])
        return f"{round(d['group_share'] * 9)}/9 dogs; {common}"

    dog_idx = [i for i, lab in enumerate(labels) if lab in dogs][: args.attr_images]
    dog_images = images[dog_idx]
    held = images[[i for i, lab in enumerate(labels) if lab in dogs][args.attr_images :]]
    graphs, metrics_runtime = dog_graphs(
        model, args.layer, [t.unit for t in targets], dog_images, held, args.top_k, args.null, label
    )
    t_circuit = time.perf_counter() - t0 - t_acts
    graph = nx.compose_all(graphs)
    per_target = "measured per target: circuit.metrics in results/mobilenet_dog_circuit.json"
    graph.graph["metrics"] = {"status": "not computed", "reason": per_target}
    graph.graph.update(
        model=MODEL,
        target=", ".join(str(g.graph["target"]) for g in graphs),
        method="attribution",
        attribution="activation_x_gradient",
        dataset=f"{len(dog_images)} dog photos",
        title_note="units whose top photos are mostly dogs, traced two layers down on dog photos",
    )
    if args.steps > 0:  # --steps 0: the graph and numbers only, no node renders
        render_node_vis(model, graph, out / "vis", steps=args.steps, size=args.size, progress=True)
    t_render = time.perf_counter() - t0 - t_acts - t_circuit
    title = f"Dog units of {MODEL} {args.layer} and their inputs (activation x gradient on dog photos)"
    paths = export_all(graph, out, stem="dog_circuit", title=title)
    keep = REPO / "results" / "mobilenet_dog_circuit"
    keep.mkdir(parents=True, exist_ok=True)
    for fmt in ("json", "graphml", "gexf", "dot"):
        shutil.copyfile(paths[fmt], keep / paths[fmt].name)

    nodes = []
    for n, d in graph.nodes(data=True):
        u = parse_unit(n)
        info = describe(str(u.layer), u.index)
        s20 = group_shares(acts[u.layer][:, u.index : u.index + 1], labels, dogs, 20)[0] if u.layer in acts else None
        nodes.append(
            {
                "unit": n,
                "layer": u.layer,
                "depth": d["depth"],
                "dog_share_top9": info.get("group_share"),
                "dog_share_top20": None if s20 is None else round(float(s20), 4),
                "top9_classes": info.get("top_classes"),
                "common_classes": info.get("common"),
                "act_mean_on_dogs": round(d.get("act_mean", float("nan")), 4),
                "vis": Path(d.get("vis", "")).name,
            }
        )
    edges = [{"from": u, "to": v, "attribution": round(e["strength"], 6)} for u, v, e in graph.edges(data=True)]
    result = {
        "command": "python scripts/reproduce_mobilenet_dog_circuit.py " + " ".join(sys.argv[1:]),
        "model": MODEL,
        "n_photos": len(labels),
        "n_dog_photos": sum(lab in dogs for lab in labels),
        "dog_base_rate": round(base_rate, 4),
        "layer": args.layer,
        "dog_units_per_layer": per_layer,
        "targets": [t.as_dict() | {"top9_classes": describe(args.layer, t.unit)["top_classes"]} for t in targets],
        "circuit": {
            "method": "activation_x_gradient",
            "attribution_images": f"first {len(dog_images)} dog photos",
            "depth": 2,
            "top_k": args.top_k,
            "rank": "positive",
            "layers": [args.layer]
            + [
                l
                for l in sorted(
                    {d["layer"] for _, d in graph.nodes(data=True)} - {args.layer},
                    key=model.spec.main_layers.index,
                    reverse=True,
                )
            ],
            "nodes": sorted(nodes, key=lambda x: (x["depth"], x["unit"])),
            "edges": edges,
            "files": {k: str(v) for k, v in paths.items()},
            "metrics": metrics_summary(graphs),
            "metrics_images": metrics_images(len(dog_images), len(held), args.null),
        },
        "render": {"steps": args.steps, "size": args.size},
        "runtime": {
            "wall_seconds": round(time.perf_counter() - t0, 1),
            "cpu_seconds": round(time.process_time() - c0, 1),
            "activations_s": round(t_acts, 1),
            "circuit_s": round(t_circuit, 1),
            "render_s": round(t_render, 1),
            "torch_threads": torch.get_num_threads(),
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "metrics": metrics_runtime,
        },
    }
    result |= {k: result["runtime"][k] for k in ("wall_seconds", "cpu_seconds")}
    write_json(args.results, result)
    print(
        f"targets: {[t.as_dict()['unit'] for t in targets]} shares {[t.share_top9 for t in targets]}; "
        f"{graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges; diagram {paths['html']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
