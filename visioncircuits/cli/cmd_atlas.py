"""``visioncircuits atlas MODEL --out SITE``: one browsable, offline site per model."""
from __future__ import annotations

import argparse

from visioncircuits.cli.cmd_render import add_render_options, check_render_options, load, render_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("atlas", help="model atlas: model, layer and unit pages cross-linked by expanded weights, "
                                     "activation atlases and search, as one offline site")
    p.add_argument("model")
    p.add_argument("--out", required=True, help="site folder (re-running resumes)")
    p.add_argument("--layers", nargs="+", default=None, metavar="LAYER",
                   help="layers of the site (default: the model's main layers; --quick: two of them)")
    p.add_argument("--units", action="append", default=None, metavar="RANGE",
                   help="units per layer: 0:8, 3,7,9 or all, or LAYER=RANGE for one layer (repeatable); "
                        "default all (--quick: 0:8)")
    p.add_argument("--dataset", default=None, metavar="DIR",
                   help="photo folder (default: generated images for toy models, else ../shared's ImageNet "
                        "samples, else scikit-image's samples)")
    p.add_argument("--sae", action="append", default=[], metavar="DIR", help="SAE on a site layer (repeatable)")
    p.add_argument("--gallery", action="append", default=[], metavar="DIR",
                   help="reuse a `visioncircuits gallery` folder of a site layer (repeatable): its finished units are "
                        "copied in and kept when their settings equal the site's, else re-rendered")
    p.add_argument("--universality", action="append", default=[], metavar="REPORT",
                   help="universality report.json with matches of this model's units (repeatable)")
    p.add_argument("--quick", action="store_true",
                   help="small site: 2 layers x 8 units, <=96 px renders of 48 steps, 150 photos, 8x8 atlas")
    p.add_argument("--shard", default=None, metavar="K/N", help="only every N-th unit and atlas cell (1..N)")
    p.add_argument("--k", type=int, default=None, help="dataset examples per unit (default 6; --quick 4)")
    p.add_argument("--diverse", type=int, default=2, help="diverse renders per unit (default 2)")
    p.add_argument("--no-negative", action="store_true", help="skip the negative render")
    p.add_argument("--max-photos", type=int, default=None, help="read at most this many photos (--quick: 150)")
    p.add_argument("--atlas-layer", action="append", default=None, metavar="LAYER",
                   help="layers with an activation atlas (default: the last site layer)")
    p.add_argument("--no-atlas", action="store_true", help="no activation atlas")
    p.add_argument("--atlas-layout", default="umap", choices=("umap", "pca"),
                   help="2-D layout of the activation atlas: umap (Carter et al., default) or pca (fast)")
    p.add_argument("--grid", type=int, default=None, help="atlas cells per side (default 16; --quick 8)")
    p.add_argument("--neighbours", type=int, default=4, help="up/downstream units per unit page (default 4)")
    p.add_argument("--objective", default=None, choices=("channel", "neuron"),
                   help="what unit renders maximise: spatial mean (channel) or centre position (neuron); default "
                        "neuron for toy models (small local detectors), channel otherwise")
    add_render_options(p)
    p.set_defaults(func=run, steps=None)


def _units(items):
    from visioncircuits.errors import InputError

    common, per_layer = None, []
    for item in items or []:
        if "=" in item:
            layer, rng = item.split("=", 1)
            if not layer or not rng:
                raise InputError(f"--units {item!r}: use RANGE or LAYER=RANGE")
            per_layer.append((layer, rng))
        else:
            common = item
    return common, tuple(per_layer)


def check_args(args: argparse.Namespace) -> None:
    """Everything that can be checked before the model loads (nothing is written on error)."""
    from visioncircuits.atlas import links
    from visioncircuits.atlas.gallery_import import gallery_layer
    from visioncircuits.atlas.photos import check_dataset
    from visioncircuits.errors import InputError
    from visioncircuits.featvis.gallery import parse_shard

    if args.steps is None:
        args.steps = 48 if args.quick else 256
    check_render_options(args)
    parse_shard(args.shard)
    for name in ("k", "grid", "max_photos"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    if args.grid is not None and args.grid > 64:
        raise InputError(f"--grid must be <= 64, got {args.grid}")
    if args.diverse < 0 or args.neighbours < 0:
        raise InputError("--diverse and --neighbours must be >= 0")
    _units(args.units)
    check_dataset(args.dataset)
    for d in args.sae:
        links.sae_layer(d)
    for r in args.universality:
        links.read_universality(r)
    for g in args.gallery:
        gallery_layer(g)


def atlas_config(args: argparse.Namespace, model):
    from visioncircuits.atlas import AtlasConfig
    from visioncircuits.atlas.photos import is_toy

    if is_toy(model) and args.init_sd is None and args.param != "maco":
        args.init_sd = 0.5  # livelier starting noise wakes the small toy nets' units (as the demo's toy gallery)

    size = args.size or (min(96, int(model.spec.input_size)) if args.quick else int(model.spec.input_size))
    render = render_config(args, size)
    common, per_layer = _units(args.units)
    kw: dict = {"render": render, "layer_units": per_layer, "diverse": args.diverse, "negative": not args.no_negative,
                "neighbours": args.neighbours, "seed": args.seed,
                "layout": args.atlas_layout}
    toy = is_toy(model)
    kw["objective"] = args.objective or ("neuron" if toy else "channel")
    if args.layers:
        kw["layers"] = tuple(args.layers)
    elif args.quick:
        main = list(model.spec.main_layers) or model.layer_names()
        kw["layers"] = tuple(dict.fromkeys([main[int(0.4 * len(main))], main[int(0.55 * len(main))]]))
    if common:
        kw["units"] = common
    for name in ("k", "grid"):
        if getattr(args, name) is not None:
            kw[name] = getattr(args, name)
    if args.max_photos is not None:
        kw["n_photos"] = args.max_photos
    if args.no_atlas:
        kw["atlas_layers"] = ()
    elif args.atlas_layer:
        kw["atlas_layers"] = tuple(args.atlas_layer)
    return AtlasConfig.quick(**kw) if args.quick else AtlasConfig(**kw)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from visioncircuits.atlas import build_atlas
    from visioncircuits.atlas.photos import builtin_photos, default_photo_folder, is_toy

    check_args(args)
    model = load(args)
    cfg = atlas_config(args, model)
    dataset = args.dataset
    if dataset is None and not is_toy(model):
        dataset = default_photo_folder() or builtin_photos(Path(args.out))
    res = build_atlas(model, args.out, cfg, dataset=dataset, saes=args.sae, universality=args.universality,
                      shard=args.shard, progress=not args.quiet, galleries=args.gallery)
    imported = f", {res.imported_units} imported from galleries" if args.gallery else ""
    print(f"rendered {res.rendered_units} units ({res.skipped_units} already done{imported}), "
          f"{res.rendered_cells} atlas cells; {res.unit_pages} unit pages")
    times = ", ".join(f"{k} {v['wall_s']:.0f} / {v['cpu_s']:.0f}" for k, v in res.stages.items())
    print(f"seconds (wall / CPU): {times}")
    print(f"wrote {res.index}")
    return 0
