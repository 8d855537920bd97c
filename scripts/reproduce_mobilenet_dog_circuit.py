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

    python scripts/reproduce_mobilenet_dog_circuit.py [--dataset ../shared/data/imagenet-samples]

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


def load_photos(folder: Path, size: int):
    """All photos as one tensor, with their class index from the wnid in the file name."""
    import torch

    from visioncircuits.data import list_images, load_image
    from visioncircuits.zoo.imagenet_classes import imagenet_wnids

    wnids = {w: i for i, w in enumerate(imagenet_wnids())}
    paths = [p for p in sorted(list_images(folder)) if p.name.split("_")[0] in wnids]
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
    args = p.parse_args()

    import networkx as nx
    import torch

    from visioncircuits.atomic import write_json
    from visioncircuits.circuits.class_selective import group_shares, group_units, top_classes
    from visioncircuits.circuits.export import export_all
    from visioncircuits.circuits.graph import build_circuit
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
    graphs = []
    for t in targets:
        g = build_circuit(
            model,
            f"{args.layer}:{t.unit}",
            depth=2,
            top_k=args.top_k,
            method="attribution",
            dataset=dog_images,
            rank="positive",
            n_images=len(dog_images),
            labels=label,
            progress=True,
        )
        graphs.append(g)
    t_circuit = time.perf_counter() - t0 - t_acts
    graph = nx.compose_all(graphs)
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
        },
    }
    write_json(args.results, result)
    print(
        f"targets: {[t.as_dict()['unit'] for t in targets]} shares {[t.share_top9 for t in targets]}; "
        f"{graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges; diagram {paths['html']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
