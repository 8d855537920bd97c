"""Train one toy-zoo model end to end: train, measure held-out accuracy, write its model card.

The card records exactly what a reader needs to trust a checkpoint: architecture, seed, the
command that made it, the training time measured on this machine and the held-out accuracy.
"""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Optional

import torch

from visioncircuits.atomic import write_json, write_text
from visioncircuits.toyworld.models import DESCRIPTIONS, PRIMITIVE_LAYER
from visioncircuits.toyworld.train import EVAL_SEED, TrainConfig, init_seed, train

DEFAULT_STEPS = {"vgg": 800, "resnet": 800, "inception": 800, "narrow": 800}


def build_zoo_model(arch: str, seed: int, out: str | Path, steps: Optional[int] = None, batch: int = 64, eval_n: int = 2000,
                    device: Optional[str] = None, threads: int = 1, progress: bool = True, aux_weight: Optional[float] = None,
                    supervised: bool = True, data_cache: Optional[str | Path] = None,
                    checkpoint_every: Optional[int] = None) -> dict:
    """Train ``toy-<arch>[-u]-s<seed>`` into ``out`` and write ``<name>.md`` and ``<name>.json``; returns the metrics."""
    from visioncircuits.toyworld.train import build

    build(arch)  # unknown architecture -> clear error before any work
    cfg = TrainConfig(arch=arch, seed=seed, steps=DEFAULT_STEPS[arch] if steps is None else steps, batch=batch, supervised=supervised)
    if checkpoint_every is not None:
        if checkpoint_every < 1:
            from visioncircuits.errors import InputError

            raise InputError(f"checkpoint interval must be >= 1 step, got {checkpoint_every}")
        cfg.checkpoint_every = int(checkpoint_every)
    if aux_weight is not None:
        if aux_weight < 0:
            from visioncircuits.errors import InputError

            raise InputError(f"aux weight must be >= 0, got {aux_weight}")
        cfg.aux_weight = float(aux_weight)
    res = train(cfg, out, device=device, progress=progress, data_cache=data_cache)
    metrics = {"name": cfg.name, "arch": arch, "seed": seed, "steps": cfg.steps, "batch": batch,
               "train_seconds": round(res.train_seconds, 1), "cpu_seconds": round(res.cpu_seconds, 1), "threads": threads, "device": str(device or "cpu"),
               "weights": res.weights, "eval_n": eval_n, "accuracy": None, "supervised": supervised,
               "aux_weight": cfg.aux_weight if supervised else 0.0, "init_seed": init_seed(arch, seed, supervised)}
    if eval_n > 0:
        from visioncircuits.hooks import HookedModel
        from visioncircuits.toyworld.evaluate import accuracy
        from visioncircuits.zoo.toy import toy_spec
        from visioncircuits.zoo.weights import load_into, read_state_dict

        spec = toy_spec(arch, seed, supervised)
        net = load_into(spec.build(), read_state_dict(res.weights), res.weights)
        model = HookedModel(net, spec, spec.preprocess()).eval().to(device or "cpu")
        metrics["accuracy"] = round(accuracy(model, n=eval_n), 4)
    out = Path(out)
    write_json(out / f"{cfg.name}.json", metrics)
    write_text(out / f"{cfg.name}.md", card(metrics))
    return metrics


def card(m: dict) -> str:
    acc = f"{m['accuracy']:.4f} on {m['eval_n']} fresh images (generator seed {EVAL_SEED}+)" if m["accuracy"] is not None else "not measured"
    supervised = m.get("supervised", True)
    steps = f" --steps {m['steps']}" if m["steps"] != DEFAULT_STEPS.get(m["arch"]) else ""
    if supervised and m.get("aux_weight", TrainConfig.aux_weight) != TrainConfig.aux_weight:
        steps += f" --aux-weight {m['aux_weight']:g}"
    if not supervised:
        steps += " --unsupervised"
    layer = PRIMITIVE_LAYER[m["arch"]]
    if supervised:
        built_in = (f"**Built in, not emerged:** the primitive layer `{layer}` was *supervised* during training by an auxiliary "
                    "primitive-presence loss (weight " f"{m.get('aux_weight', TrainConfig.aux_weight):g}"
                    + ("; its 12 channels read all 26 primitives through a linear head, so they must superpose them)."
                       if m["arch"] == "narrow" else
                       "), one channel per primitive in a fixed channel order shared by every supervised zoo model. "
                       "Its unit labels and any cross-model match of those channels are by construction."))
        loss = f"class cross-entropy + auxiliary primitive loss (weight {m.get('aux_weight', TrainConfig.aux_weight):g})"
    else:
        built_in = (f"**Unsupervised:** trained with the class loss only; no loss touches `{layer}` directly, so any "
                    "primitive detector found there emerged from training.")
        loss = "class cross-entropy only (unsupervised)"
    init = m.get("init_seed")
    legacy = init is None
    if legacy:
        init_row = (f"| initial weights | `torch.manual_seed({m['seed']})` before building (trained before per-model initial weights): "
                    f"**shared** with every other seed-{m['seed']} zoo model in the layers of equal shape (e.g. the 5x5 first convolution) |\n")
    else:
        init_row = f"| initial weights | torch seed {init} = hash of (architecture, seed, variant): shared with no other zoo model |\n"
    repro_note = ("\nThis checkpoint predates per-model initial weights: the command below now starts from another "
                  "initialisation, so it trains a comparable model, not these tensors.\n" if legacy else "")
    return f"""# {m['name']}

Toy-world classifier: {DESCRIPTIONS[m["arch"]]}.

{built_in}

| field | value |
|---|---|
| architecture | `{m['arch']}` (`visioncircuits.toyworld.models`) |
| seed | {m['seed']} |
{init_row}| primitive layer | `{layer}` ({'supervised' if supervised else 'unsupervised'}) |
| training | {m['steps']} steps x {m['batch']} freshly generated 64x64 images, AdamW, cosine LR, {loss} |
| train time | {m['train_seconds']} s wall clock ({m['cpu_seconds']} s of CPU time), {m['threads']} torch thread(s), {m['device']}, on a 2-core machine shared with other jobs ({platform.machine()}, torch {torch.__version__}) |
| held-out accuracy | {acc} |
| classes | face, car, dog_ear, house, flower, fish, tree, clock, ladybug, beach |

Reproduce:
{repro_note}
```
visioncircuits toyworld train {m["arch"]} --seed {m["seed"]} --out models/toy --threads {m["threads"]}{steps}
visioncircuits toyworld eval {m["name"]} --n {m["eval_n"] or 2000}
```

Weights: `{Path(m["weights"]).name}` (safetensors, network only; the auxiliary head is not saved).
"""
