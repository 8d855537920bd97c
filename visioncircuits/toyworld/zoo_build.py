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
from visioncircuits.toyworld.train import EVAL_SEED, TrainConfig, train

DEFAULT_STEPS = {"vgg": 800, "resnet": 800, "inception": 800, "narrow": 800}


def build_zoo_model(
    arch: str,
    seed: int,
    out: str | Path,
    steps: Optional[int] = None,
    batch: int = 64,
    eval_n: int = 2000,
    device: Optional[str] = None,
    threads: int = 1,
    progress: bool = True,
    aux_weight: Optional[float] = None,
) -> dict:
    """Train ``toy-<arch>-s<seed>`` into ``out`` and write ``<name>.md`` and ``<name>.json``; returns the metrics."""
    from visioncircuits.toyworld.train import build

    build(arch)  # unknown architecture -> clear error before any work
    cfg = TrainConfig(arch=arch, seed=seed, steps=DEFAULT_STEPS[arch] if steps is None else steps, batch=batch)
    if aux_weight is not None:
        if aux_weight < 0:
            from visioncircuits.errors import InputError

            raise InputError(f"aux weight must be >= 0, got {aux_weight}")
        cfg.aux_weight = float(aux_weight)
    res = train(cfg, out, device=device, progress=progress)
    metrics = {
        "name": cfg.name,
        "arch": arch,
        "seed": seed,
        "steps": cfg.steps,
        "batch": batch,
        "train_seconds": round(res.train_seconds, 1),
        "cpu_seconds": round(res.cpu_seconds, 1),
        "threads": threads,
        "device": str(device or "cpu"),
        "weights": res.weights,
        "eval_n": eval_n,
        "accuracy": None,
        "aux_weight": cfg.aux_weight,
    }
    if eval_n > 0:
        from visioncircuits.hooks import HookedModel
        from visioncircuits.toyworld.evaluate import accuracy
        from visioncircuits.zoo.toy import toy_spec
        from visioncircuits.zoo.weights import load_into, read_state_dict

        spec = toy_spec(arch, seed)
        net = load_into(spec.build(), read_state_dict(res.weights), res.weights)
        model = HookedModel(net, spec, spec.preprocess()).eval().to(device or "cpu")
        metrics["accuracy"] = round(accuracy(model, n=eval_n), 4)
    out = Path(out)
    write_json(out / f"{cfg.name}.json", metrics)
    write_text(out / f"{cfg.name}.md", card(metrics))
    return metrics


def card(m: dict) -> str:
    acc = (
        f"{m['accuracy']:.4f} on {m['eval_n']} fresh images (generator seed {EVAL_SEED}+)"
        if m["accuracy"] is not None
        else "not measured"
    )
    steps = f" --steps {m['steps']}" if m["steps"] != DEFAULT_STEPS.get(m["arch"]) else ""
    if m.get("aux_weight", TrainConfig.aux_weight) != TrainConfig.aux_weight:
        steps += f" --aux-weight {m['aux_weight']:g}"
    return f"""# {m["name"]}

Toy-world classifier: {DESCRIPTIONS[m["arch"]]}.

| field | value |
|---|---|
| architecture | `{m["arch"]}` (`visioncircuits.toyworld.models`) |
| seed | {m["seed"]} |
| primitive layer (auxiliary presence head during training) | `{PRIMITIVE_LAYER[m["arch"]]}` |
| training | {m["steps"]} steps x {m["batch"]} freshly generated 64x64 images, AdamW, cosine LR, auxiliary primitive loss weight {m.get("aux_weight", TrainConfig.aux_weight):g} |
| train time | {m["train_seconds"]} s wall clock ({m["cpu_seconds"]} s of CPU time), {m["threads"]} torch thread(s), {m["device"]}, on a 2-core machine shared with other jobs ({platform.machine()}, torch {torch.__version__}) |
| held-out accuracy | {acc} |
| classes | face, car, dog_ear, house, flower, fish, tree, clock, ladybug, beach |

Reproduce:

```
visioncircuits toyworld train {m["arch"]} --seed {m["seed"]} --out models/toy --threads {m["threads"]}{steps}
visioncircuits toyworld eval {m["name"]} --n {m["eval_n"] or 2000}
```

Weights: `{Path(m["weights"]).name}` (safetensors, network only; the auxiliary head is not saved).
"""
