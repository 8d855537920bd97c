"""``visioncircuits circuit MODEL UNIT``: build, export and draw the circuit feeding a unit."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "circuit", help="circuit graph of a unit: GraphML, JSON, GEXF, DOT and an interactive HTML diagram"
    )
    p.add_argument("model", help="registered model name (see `visioncircuits models`)")
    p.add_argument("unit", help="target: LAYER:CHANNEL, logit:CLASS or sae:DIR:LATENT")
    p.add_argument("--depth", type=int, default=2, help="layers to walk down (default 2)")
    p.add_argument("--top-k", type=int, default=3, help="strongest inputs kept per node (default 3)")
    p.add_argument("--share", type=float, default=None, help="also stop once kept edges hold this share of |influence|")
    p.add_argument(
        "--rank", default="abs", choices=("abs", "positive", "negative"), help="rank edges by |strength| or sign"
    )
    p.add_argument("--method", default="weights", help="weights (data-free) or attribution (needs --dataset)")
    p.add_argument("--attribution", default="activation_x_gradient",
                   help="activation_x_gradient, integrated_gradients or conductance")
    p.add_argument("--dataset", default=None, help="image folder for attribution and activation statistics")
    p.add_argument("--toyworld", action="store_true",
                   help="generated toy-world images instead of --dataset (toy models: 64 px scenes)")
    p.add_argument("--n-images", type=int, default=64, help="images read from --dataset (default 64)")
    p.add_argument("--no-metrics", action="store_true",
                   help="skip faithfulness/completeness (measured by default with --dataset or --toyworld)")
    p.add_argument("--null", type=int, default=100, help="random circuits in the metrics' null (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random circuits (default 0)")
    p.add_argument(
        "--layers",
        nargs="*",
        default=None,
        help="layers to walk (default: the model's main layers); sae:DIR for SAE latents",
    )
    p.add_argument("--weights", default=None, help="weights file, or 'random' (default: the model's published weights)")
    p.add_argument("--no-vis", action="store_true", help="skip feature visualisations of the nodes")
    p.add_argument("--vis-steps", type=int, default=128, help="optimisation steps per visualisation (default 128)")
    p.add_argument("--no-labels", action="store_true", help="toy models: skip ground-truth unit labels")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=run)


def circuit_config(args: argparse.Namespace):
    """The :class:`CircuitConfig` the flags describe."""
    from visioncircuits.circuits.config import CircuitConfig

    return CircuitConfig(depth=args.depth, top_k=args.top_k, method=args.method, layers=args.layers, share=args.share,
                         rank=args.rank, attribution=args.attribution, n_images=args.n_images, progress=True,
                         metrics=(args.dataset is not None or args.toyworld) and not args.no_metrics,
                         null_samples=args.null, seed=args.seed)


def run(args: argparse.Namespace) -> int:
    from visioncircuits.circuits.export import export_all
    from visioncircuits.circuits.graph import build_circuit
    from visioncircuits.circuits.metrics import metrics_lines
    from visioncircuits.device import pick_device
    from visioncircuits.errors import InputError
    from visioncircuits.zoo import load_model

    if args.dataset is not None and not Path(args.dataset).is_dir():
        raise InputError(f"--dataset must be an image folder: {args.dataset} not found")
    if args.dataset is not None and args.toyworld:
        raise InputError("give --dataset or --toyworld, not both")
    if args.null < 0 or args.null == 1:
        raise InputError("--null must be 0 (no null) or at least 2")
    if args.n_images < 1 or args.vis_steps < 1:
        raise InputError("--n-images and --vis-steps must be positive")
    config = circuit_config(args)  # bad settings fail before the model loads
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    model = load_model(args.model, weights=args.weights, device=pick_device(args.device))
    labels = None
    if model.spec.family == "toy" and not args.no_labels:
        from visioncircuits.circuits.toy import toy_labeller

        labels = toy_labeller(model)
    dataset = args.dataset
    if args.toyworld:
        from visioncircuits.circuits.metrics import toyworld_dataset

        dataset = toyworld_dataset(model, args.n_images, seed=args.seed)
    graph = build_circuit(model, args.unit, config, dataset=dataset, labels=labels)
    if not args.no_vis:
        from visioncircuits.circuits.vis import render_node_vis

        render_node_vis(model, graph, out / "vis", steps=args.vis_steps, progress=True)
    paths = export_all(graph, out)
    print(f"circuit of {graph.graph['target']} in {model.spec.name}: {graph.number_of_nodes()} nodes, "
          f"{graph.number_of_edges()} edges")
    for line in metrics_lines(graph.graph.get("metrics", {})):
        print(f"  {line}")
    for fmt, p in paths.items():
        print(f"  {fmt:8s} {p}")
    return 0
