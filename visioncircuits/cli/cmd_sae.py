"""``visioncircuits sae train|eval|export|import``: train an SAE on a layer, evaluate one, convert to/from SAELens."""
from __future__ import annotations

import argparse
import json
import re
import sys

from visioncircuits.cli.output import format_table

METRIC_ORDER = ("explained_variance", "nmse", "mse", "l0", "dead_fraction", "loss_recovered",
                "loss_clean", "loss_sae", "loss_zero", "loss_kind", "samples", "images")

# TrainConfig field -> `sae train` option: library errors name fields, the CLI says them as flags.
FIELD_FLAGS = {"d_sae": "--latents", "k": "--k", "architecture": "--arch", "steps": "--steps",
               "batch_size": "--batch-size", "lr": "--lr", "l1_coeff": "--l1", "aux_k": "--aux-k",
               "dead_after": "--dead-after", "checkpoint_every": "--checkpoint-every", "seed": "--seed",
               "init_bias": "--init-bias"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sae", help="sparse autoencoders: train on a layer, evaluate, export to / import from SAELens")
    cmds = p.add_subparsers(dest="sae_command", metavar="{train,eval,export,import}")
    cmds.required = True

    t = cmds.add_parser("train", help="train an SAE on MODEL's LAYER (resumes from a checkpoint in --out)")
    t.add_argument("model")
    t.add_argument("layer")
    t.add_argument("--latents", type=int, required=True, help="dictionary size d_sae")
    t.add_argument("--k", type=int, default=None, help="active latents per sample (topk/batchtopk)")
    t.add_argument("--arch", default="topk", help="topk (default), batchtopk or relu (L1 penalty)")
    src = t.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="image folder (random resized crops and flips multiply it)")
    src.add_argument("--toyworld", action="store_true", help="stream fresh toy-world scenes")
    t.add_argument("--out", required=True, help="output folder (sae.safetensors, cfg.json, metrics.json)")
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--batch-size", type=int, default=4096, help="activation samples per step")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--l1", type=float, default=1.0, help="L1 coefficient (relu architecture)")
    t.add_argument("--aux-k", type=int, default=None,
                   help="dead latents used by the auxiliary loss (default: channels / 2)")
    t.add_argument("--dead-after", type=int, default=200_000, help="samples without firing before a latent is dead")
    t.add_argument("--positions", type=int, default=None, help="random positions kept per image (default: all)")
    t.add_argument("--image-batch", type=int, default=32, help="images per forward pass of the model")
    t.add_argument("--checkpoint-every", type=int, default=200)
    t.add_argument("--overwrite", action="store_true",
                   help="replace a finished SAE of other settings in --out (default: refuse, exit 2)")
    t.add_argument("--eval-images", type=int, default=256, help="held-out images for the final evaluation")
    t.add_argument("--init-bias", default="median", choices=("median", "mean", "zero"))
    t.add_argument("--isolated-fraction", type=float, default=0.0,
                   help="with --toyworld: share of each image batch showing one primitive alone "
                        "(unlabelled; default 0)")
    _common(t)
    t.set_defaults(func=run_train)

    e = cmds.add_parser("eval", help="print an SAE's metrics (table and JSON)")
    e.add_argument("model")
    e.add_argument("sae_dir")
    src = e.add_mutually_exclusive_group()
    src.add_argument("--dataset", help="image folder (centre crops); default: the SAE's training data")
    src.add_argument("--toyworld", action="store_true", help="held-out toy-world scenes (with labels)")
    e.add_argument("--images", type=int, default=256, help="number of evaluation images")
    e.add_argument("--json", dest="json_out", default=None, help="also write the metrics JSON here")
    _common(e)
    e.set_defaults(func=run_eval)

    x = cmds.add_parser("export", help="write an SAE as a folder another library opens (sae_lens.SAE.load_from_disk)")
    x.add_argument("sae_dir")
    x.add_argument("--format", default="saelens", choices=("saelens",), help="target format (default: saelens)")
    x.add_argument("--out", required=True, help="output folder (sae_weights.safetensors + SAELens cfg.json)")
    x.set_defaults(func=run_export)

    i = cmds.add_parser("import", help="convert a SAELens topk/standard SAE folder into a visioncircuits SAE folder")
    i.add_argument("saelens_dir")
    i.add_argument("--out", required=True, help="output SAE folder (sae.safetensors + cfg.json)")
    i.add_argument("--layer", default=None, help="model layer the SAE reads (default: the folder's metadata.hook_name)")
    i.add_argument("--model", default=None, help="model name (default: the folder's metadata.model_name)")
    i.set_defaults(func=run_import)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", default=None, help="model weights (default: published)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true")


def _setup(args):
    import torch

    from visioncircuits.device import pick_device
    from visioncircuits.errors import InputError
    from visioncircuits.zoo import load_model

    if args.threads is not None:
        if args.threads < 1:
            raise InputError(f"--threads must be positive, got {args.threads}")
        torch.set_num_threads(args.threads)
    return load_model(args.model, weights=args.weights, device=pick_device(args.device))


def _print(metrics: dict) -> None:
    rows = [{"metric": k, "value": metrics[k]} for k in METRIC_ORDER if k in metrics]
    print(format_table(rows))
    print(json.dumps(metrics, indent=2, default=str))
    sys.stdout.flush()


def as_flags(err: Exception) -> Exception:
    """A TrainConfig field error re-worded with this command's flags ("--k must be between 1 and --latents (8)")."""
    from visioncircuits.errors import InputError
    from visioncircuits.sae.config import ConfigFieldError

    if not isinstance(err, ConfigFieldError) or err.field not in FIELD_FLAGS:
        return err
    problem = re.sub(r"\b(" + "|".join(FIELD_FLAGS) + r")\b", lambda m: FIELD_FLAGS[m.group(1)], err.problem)
    return InputError(f"{FIELD_FLAGS[err.field]} {problem}")


def _refuse_to_overwrite(args: argparse.Namespace, cfg) -> None:
    """A finished SAE of other settings in --out is an error unless --overwrite (weights are
    compared again once the model is loaded, still before anything is written)."""
    from pathlib import Path

    from visioncircuits.errors import InputError
    from visioncircuits.sae.train import _fingerprint, folder_conflict
    from visioncircuits.zoo import get_spec

    if args.overwrite:
        return
    iso = {"isolated_fraction": args.isolated_fraction} if args.isolated_fraction else {}
    fp = _fingerprint(cfg, {"model": get_spec(args.model).name, "layer": args.layer, "training_data": iso})
    conflict = folder_conflict(Path(args.out), fp)
    if conflict:
        raise InputError(f"{conflict}; pass --overwrite to replace it, or choose another --out")


def run_train(args: argparse.Namespace) -> int:
    from visioncircuits.errors import InputError
    from visioncircuits.sae.config import ConfigFieldError
    from visioncircuits.sae.pipeline import train_layer_sae
    from visioncircuits.sae.train import TrainConfig

    if args.arch in ("topk", "batchtopk") and args.k is None:
        raise InputError(f"--k is required for the {args.arch} architecture")
    for name in ("image_batch", "eval_images"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.positions is not None and args.positions < 1:
        raise InputError(f"--positions must be positive, got {args.positions}")
    if args.isolated_fraction and not args.toyworld:
        raise InputError("--isolated-fraction needs --toyworld")
    try:
        cfg = TrainConfig(d_sae=args.latents, k=args.k if args.arch != "relu" else None, architecture=args.arch,
                          steps=args.steps, batch_size=args.batch_size, lr=args.lr, l1_coeff=args.l1, aux_k=args.aux_k,
                          dead_after=args.dead_after, checkpoint_every=args.checkpoint_every, seed=args.seed,
                          init_bias=args.init_bias)
    except ConfigFieldError as e:
        raise as_flags(e) from None
    _refuse_to_overwrite(args, cfg)  # before the model loads: nothing is read or written
    model = _setup(args)
    _, metrics = train_layer_sae(model, args.layer, cfg, args.out, dataset=args.dataset, toyworld=args.toyworld,
                                 positions=args.positions, image_batch=args.image_batch, eval_images=args.eval_images,
                                 progress=not args.no_progress, isolated_fraction=args.isolated_fraction,
                                 overwrite=args.overwrite)
    print(f"saved SAE to {args.out}")
    _print(metrics)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from visioncircuits.errors import InputError
    from visioncircuits.sae.config import read_config
    from visioncircuits.sae.pipeline import evaluate_dir, training_data_of

    if args.images < 1:
        raise InputError(f"--images must be positive, got {args.images}")
    cfg = read_config(args.sae_dir)
    if args.dataset is None and not args.toyworld and training_data_of(cfg) is None:
        raise InputError(f"no evaluation data: pass --dataset DIR or --toyworld (the SAE's training data "
                         f"{cfg.training_data or 'is unknown'})")
    model = _setup(args)
    metrics = evaluate_dir(model, args.sae_dir, dataset=args.dataset, toyworld=args.toyworld, n_images=args.images,
                           progress=not args.no_progress)
    _print(metrics)
    if args.json_out:
        from visioncircuits.atomic import write_json

        write_json(args.json_out, metrics)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from visioncircuits.sae.saelens_format import export_saelens

    out = export_saelens(args.sae_dir, args.out)
    print(f"wrote a SAELens SAE to {out} (load it with sae_lens.SAE.load_from_disk)")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from visioncircuits.sae.io import load_sae
    from visioncircuits.sae.saelens_format import import_saelens

    out = import_saelens(args.saelens_dir, args.out, layer=args.layer, model=args.model)
    sae = load_sae(out)
    print(f"imported a {sae.architecture} SAE ({sae.d_in} -> {sae.d_sae} latents, layer {sae.cfg.layer}, "
          f"model {sae.cfg.model}) to {out}")
    return 0
