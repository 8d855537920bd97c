"""``visioncircuits gallery MODEL LAYER``: a resumable, shardable gallery of a layer's units."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from visioncircuits.cli.cmd_render import add_render_options, check_render_options, load, render_config
from visioncircuits.cli.ray_option import add_ray_option, ray_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gallery", help="gallery of a layer's units (or sae:DIR latents): PNGs, gallery.json, index.html"
    )
    p.add_argument("model")
    p.add_argument("layer", help="a layer name, or sae:SAE_DIR for the SAE's latents")
    p.add_argument("--units", default="all", help="unit range: 0:64, 3,7,9 or all (default)")
    p.add_argument("--dataset", default=None, metavar="DIR", help="image folder for top dataset examples and stats")
    p.add_argument("--max-examples", type=int, default=None, help="read at most this many dataset images")
    p.add_argument("--k", type=int, default=9, help="dataset examples per unit")
    p.add_argument("--out", required=True, help="output folder (re-running resumes)")
    p.add_argument("--shard", default=None, metavar="K/N", help="only every N-th unit, starting with the K-th (1..N)")
    p.add_argument("--diverse", type=int, default=0, metavar="N", help="also render N diverse images per unit")
    p.add_argument("--negative", action="store_true", help="also render what most suppresses each unit")
    p.add_argument(
        "--notes", default=None, metavar="JSON", help='file with {"UNIT_INDEX": "note", ...} shown on the cards'
    )
    p.add_argument("--link-images", action="store_true", help="link PNGs from index.html instead of embedding them")
    p.add_argument("--objective", default="channel", choices=("channel", "neuron"),
                   help="what each rendering maximises: the unit's spatial mean (channel, default) or its centre "
                        "position (neuron; small local detectors such as the toy models' units)")
    add_render_options(p)
    add_ray_option(p)
    p.set_defaults(func=run)


def _read_notes(path):
    from visioncircuits.errors import InputError

    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text())
        return {int(k): str(v) for k, v in data.items()}
    except FileNotFoundError:
        raise InputError(f"notes file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, AttributeError) as e:
        raise InputError(f'notes file {path} must be a JSON object {{"unit index": "note"}}: {e}') from None


def run(args: argparse.Namespace) -> int:
    from visioncircuits.errors import InputError
    from visioncircuits.featvis.gallery import build_gallery, parse_shard

    check_render_options(args)
    parse_shard(args.shard)
    if args.diverse < 0 or args.k < 1:
        raise InputError("--diverse must be >= 0 and --k >= 1")
    notes = _read_notes(args.notes)
    ray = ray_config(args)
    model = load(args)
    size = args.size or model.spec.input_size
    kwargs = dict(units=args.units, dataset=args.dataset, diverse=args.diverse, negative=args.negative, k=args.k,
                  shard=args.shard, unit_notes=notes, embed_images=not args.link_images, max_examples=args.max_examples,
                  objective=args.objective)
    if ray is None:
        res = build_gallery(model, args.layer, args.out, render_config(args, size), **kwargs)
    else:
        from visioncircuits.distributed.gallery import ray_gallery

        res = ray_gallery(model, args.layer, args.out, render_config(args, size), ray=ray, **kwargs)
    print(f"rendered {len(res.rendered)} units, {len(res.skipped)} already done; "
          f"{res.total_finished} units in {res.manifest}")
    if res.index:
        print(f"wrote {res.index}")
    return 0
