"""``visioncircuits render MODEL UNIT [UNIT ...]``: one PNG per unit plus render.json."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_render_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``render`` and ``gallery``."""
    p.add_argument("--weights", default=None, help="weights file, 'random', or omit for the published weights")
    p.add_argument("--steps", type=int, default=256, help="optimisation steps (default 256)")
    p.add_argument("--size", type=int, default=None, help="image size in pixels (default: the model's input size)")
    p.add_argument("--param", choices=["fft", "pixel", "maco"], default="fft", help="image parameterisation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: the parameterisation's)")
    p.add_argument(
        "--batch-size", type=int, default=None, help="images per optimisation batch (default: fits a memory budget)"
    )
    p.add_argument("--transforms", choices=["default", "lucent", "stride_aware", "none"], default="default",
                   help="transformation robustness: default (Lucent's chain scaled to --size), lucent, stride_aware "
                        "(jitter covering the target layer's total stride + light blur, against checkerboards), none")
    p.add_argument(
        "--colour-from",
        default=None,
        metavar="DIR",
        help="decorrelate colour with this image folder's statistics (default: ImageNet's)",
    )
    p.add_argument(
        "--spectrum-from",
        default=None,
        metavar="DIR",
        help="MACO magnitude spectrum from this image folder (default 1/f)",
    )
    p.add_argument("--no-redirect-relu", dest="redirect_relu", action="store_false",
                   help="true ReLU gradients from the first step (default: Lucid's redirected ReLU gradients for "
                        "the first --redirect-steps steps, so units silent on the initial image still move)")
    p.add_argument("--redirect-steps", type=int, default=None, metavar="N",
                   help="steps with redirected ReLU gradients (default 16, at most half of --steps)")
    p.add_argument(
        "--init-sd",
        type=float,
        default=None,
        metavar="SD",
        help="initial noise scale of the fft/pixel image (default 0.1; 0.5 wakes more units of small toy nets)",
    )
    p.add_argument("--fast", action="store_true",
                   help="opt-in speed preset (RenderConfig.fast(): channels_last, bf16 autocast, coarse-to-fine); "
                   "renders differ from the default settings' (see `visioncircuits bench featvis_speed`)")
    p.add_argument("--exact", action="store_true",
                   help="byte-identical renders however units are batched, sharded or resumed: one torch thread, "
                        "deterministic kernels, one image per batch (without it they agree to float rounding)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def check_render_options(args: argparse.Namespace) -> None:
    from visioncircuits.errors import InputError

    if args.steps < 0:
        raise InputError(f"--steps must be >= 0, got {args.steps}")
    if args.size is not None and args.size < 8:
        raise InputError(f"--size must be at least 8 pixels, got {args.size}")
    if args.batch_size is not None and args.batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.redirect_steps is not None and args.redirect_steps < 0:
        raise InputError(f"--redirect-steps must be >= 0, got {args.redirect_steps}")
    if args.init_sd is not None and (args.param == "maco" or args.init_sd < 0):
        raise InputError("--init-sd must be >= 0 and only applies to --param fft or pixel")
    if args.spectrum_from and args.param != "maco":
        raise InputError("--spectrum-from only applies to --param maco")


def param_kwargs(args: argparse.Namespace, size: int) -> dict:
    from visioncircuits.featvis import stats

    kw: dict = {}
    if args.init_sd is not None:
        kw["sd"] = float(args.init_sd)
    if args.colour_from:
        kw["colour"] = stats.colour_correlation_sqrt(args.colour_from, progress=not args.quiet)
    if args.spectrum_from:
        kw["magnitude"] = stats.magnitude_spectrum(
            args.spectrum_from, size, colour=kw.get("colour"), progress=not args.quiet
        )
    return kw


def redirect_option(args: argparse.Namespace):
    """The ``redirect_relu=`` value for render/build_gallery: False, a step count, or True (default)."""
    if not args.redirect_relu:
        return False
    return True if args.redirect_steps is None else int(args.redirect_steps)


def render_config(args: argparse.Namespace, size: int):
    """The :class:`RenderConfig` the render options describe (shared by ``render`` and ``gallery``)."""
    from visioncircuits.featvis.config import FAST_PRESET, RenderConfig

    speed = dict(FAST_PRESET) if getattr(args, "fast", False) else {}
    return RenderConfig(steps=args.steps, size=size, param=args.param, seed=args.seed, batch_size=args.batch_size,
                        transforms=args.transforms, lr=args.lr, progress=not args.quiet,
                        param_kwargs=param_kwargs(args, size), redirect_relu=redirect_option(args),
                        exact=bool(getattr(args, "exact", False)), **speed)


def load(args: argparse.Namespace):
    from visioncircuits.device import pick_device
    from visioncircuits.zoo import load_model

    return load_model(args.model, weights=args.weights, device=pick_device(args.device))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="feature-visualise units: one PNG per unit plus render.json")
    p.add_argument("model")
    p.add_argument("units", nargs="+", metavar="UNIT", help="LAYER:CH, LAYER:CH@Y,X, sae:DIR:LATENT or logit:CLASS")
    p.add_argument("--out", required=True, help="output folder")
    add_render_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from visioncircuits.atomic import write_json, write_png
    from visioncircuits.featvis import render
    from visioncircuits.featvis.render import redirect_steps
    from visioncircuits.unit_activations import resolve_unit

    check_render_options(args)
    model = load(args)
    units = [resolve_unit(model, u) for u in args.units]  # all errors before any work
    size = args.size or model.spec.input_size
    cfg = render_config(args, size)
    res = render(model, units, cfg)
    out = Path(args.out)
    rows = []
    for i, u in enumerate(units):
        png = write_png(out / f"{u.slug}.png", res.images[i])
        rows.append({"unit": str(u), "png": png.name, "value": res.values[i]})
    write_json(
        out / "render.json",
        {
            "model": model.spec.name,
            "weights": args.weights,
            "steps": args.steps,
            "size": size,
            "param": args.param,
            "seed": args.seed,
            "seconds": res.seconds,
            "redirect_relu_steps": redirect_steps(cfg.redirect_relu, cfg.steps),
            "init_sd": args.init_sd,
            "units": rows,
        },
    )
    for r in rows:
        print(f"{r['unit']}\t{r['value']:.4g}\t{out / r['png']}")
    return 0
