"""``visioncircuits models`` and ``visioncircuits layers MODEL``."""
from __future__ import annotations

import argparse

from visioncircuits.cli.output import format_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the model registry")
    p.set_defaults(func=run_models)
    p = sub.add_parser("layers", help="list every hookable layer of a model with its output shape")
    p.add_argument("model")
    p.add_argument("names", nargs="*", metavar="LAYER", help="only these layers (unknown names get suggestions)")
    p.add_argument("--size", type=int, default=None, help="input size in pixels (default: the model's own)")
    p.add_argument("--weights", default="random", help="weights do not change shapes, so random is the default")
    p.add_argument("--main", action="store_true", help="only the model's main layers")
    p.set_defaults(func=run_layers)


def run_models(args: argparse.Namespace) -> int:
    from visioncircuits.zoo import list_models, list_prefixes

    rows = [{"name": s.name, "input": f"{s.input_size}px", "description": s.description} for s in list_models()]
    for prefix, desc, examples in list_prefixes():
        rows.append(
            {"name": f"{prefix}:<name>", "input": "", "description": f"{desc} (e.g. {', '.join(examples[:4])})"}
        )
    print(format_table(rows))
    return 0


def run_layers(args: argparse.Namespace) -> int:
    from visioncircuits.errors import InputError
    from visioncircuits.zoo import load_model

    if args.size is not None and args.size < 1:
        raise InputError(f"--size must be a positive number of pixels, got {args.size}")
    model = load_model(args.model, weights=args.weights)
    info = model.layer_info(args.size)
    only = {model.resolve_layer(n, args.size).name for n in args.names}
    main = set(model.spec.main_layers)
    rows = [
        {
            "layer": i.name,
            "shape": " x ".join(str(d) for d in i.shape),
            "type": i.module_type,
            "main": "*" if i.name in main else "",
        }
        for i in info.values()
        if (not args.main or i.name in main) and (not only or i.name in only)
    ]
    print(format_table(rows))
    return 0
