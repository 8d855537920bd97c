"""Train a toy-zoo model on freshly generated images; resumable, atomic, CPU-friendly.

Every step draws a new batch from the generator (seeded by run seed and step, so a resumed
run sees exactly the batches it would have seen), and the loss is class cross-entropy plus
an auxiliary primitive-presence loss read from the primitive layer (max over space, then a
head that is *not* part of the saved network). In the wide models the head is one-to-one:
channel ``PRIMITIVE_CHANNELS[arch][p]`` alone must predict primitive ``p``, so those units
are monosemantic detectors with known labels; the narrow model's head is linear over its
few channels, so it has to superpose the primitives. This is what makes the primitive
layer a known representation that labels, circuits, SAEs and universality are checked on.

With ``supervised=False`` (the unsupervised zoo, ``toy-<arch>-u-s<seed>``) the loss is class
cross-entropy only: whatever primitive detectors those models have emerged from training.

Initial weights come from ``init_seed(arch, seed, supervised)``, a hash of the model's
identity, so no two zoo models share their initialisation (models of different
architectures with the same seed used to share first layers, which made them look
"universal" by construction).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save
from torch import nn
from tqdm.auto import tqdm

from visioncircuits.atomic import clean_stale_tmp, write_bytes, write_json
from visioncircuits.errors import InputError, unknown
from visioncircuits.toyworld.generate import generate
from visioncircuits.toyworld.models import ARCHS, AUX_INPUTS, PRIMITIVE_CHANNELS, primitive_channels
from visioncircuits.toyworld.primitives import PRIMITIVES

log = logging.getLogger(__name__)

EVAL_SEED = 999_000_000  # held-out images: never a training seed (those are < 1e8)
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


@dataclass
class TrainConfig:
    arch: str
    seed: int = 0
    steps: int = 900
    batch: int = 64
    lr: float = 4e-3
    weight_decay: float = 1e-4
    aux_weight: float = 8.0
    aux_pos_weight: float = 2.0  # primitives are present in few images: weigh positives up
    checkpoint_every: int = 100
    supervised: bool = True  # False: class loss only (no auxiliary primitive loss)

    @property
    def name(self) -> str:
        return model_name(self.arch, self.seed, self.supervised)


@dataclass
class TrainResult:
    name: str
    weights: str
    steps: int
    train_seconds: float
    final_loss: float
    cpu_seconds: float = 0.0


def model_name(arch: str, seed: int, supervised: bool = True) -> str:
    """``toy-<arch>-s<seed>`` (supervised primitive layer) or ``toy-<arch>-u-s<seed>`` (class loss only)."""
    return f"toy-{arch}-s{seed}" if supervised else f"toy-{arch}-u-s{seed}"


def init_seed(arch: str, seed: int, supervised: bool = True) -> int:
    """The torch seed of a model's initial weights: a hash of (architecture, seed, variant).

    Two models share initial weights only if they are the same model, whatever their seeds.
    """
    key = f"visioncircuits-toy|{arch}|{'supervised' if supervised else 'unsupervised'}|{seed}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") & 0x7FFFFFFF


def init_model(arch: str, seed: int, supervised: bool = True) -> nn.Module:
    """The untrained network of a zoo model, initialised from ``init_seed`` (reproducible)."""
    gen_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(init_seed(arch, seed, supervised))
        return build(arch)
    finally:
        torch.random.set_rng_state(gen_state)


def data_seed(seed: int, step: int) -> int:
    return (seed + 1) * 1_000_000 + step


class DiagonalHead(nn.Module):
    """Primitive p's logit from channel ``channels[p]`` alone: ``scale_p * max_space + bias_p``."""

    channels: torch.Tensor  # buffer

    def __init__(self, channels: list[int]):
        super().__init__()
        self.register_buffer("channels", torch.tensor(channels, dtype=torch.long))
        self.scale = nn.Parameter(torch.ones(len(channels)))
        self.bias = nn.Parameter(torch.full((len(channels),), -1.0))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return pooled[:, self.channels] * self.scale + self.bias


def aux_head(net: nn.Module, arch: str) -> nn.Module:
    """One-to-one head for wide models; a linear (superposing) head for the narrow model.

    It reads the max over space of the concatenated pre-activations named in ``AUX_INPUTS``
    (in the primitive layer's channel order).
    """
    channels = PRIMITIVE_CHANNELS[arch]
    if channels is None:
        return nn.Linear(primitive_channels(net, arch), len(PRIMITIVES))
    return DiagonalHead(channels)


class Normalise(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - 0.5) / 0.25


def build(arch: str) -> nn.Module:
    if arch not in ARCHS:
        raise unknown("toy architecture", arch, list(ARCHS))
    return ARCHS[arch]()


def _module(net: nn.Module, name: str) -> nn.Module:
    return dict(net.named_modules())[name]


def _state(net: nn.Module, head: nn.Module, opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out = {f"net.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    out.update({f"head.{k}": v.detach().cpu().contiguous() for k, v in head.state_dict().items()})
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            out[f"opt.{i}.{k}"] = (v if torch.is_tensor(v) else torch.tensor(v)).detach().cpu().contiguous()
    return out


def _same_run(path: Path, cfg: TrainConfig) -> bool:
    """The checkpoint's recorded config (metadata only) equals ``cfg`` (``checkpoint_every`` aside)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt") as f:
            old = json.loads((f.metadata() or {})["config"])
    except (SafetensorError, OSError, KeyError, ValueError):
        return False
    new = asdict(cfg)
    return {k: v for k, v in old.items() if k != "checkpoint_every"} == {
        k: v for k, v in new.items() if k != "checkpoint_every"}


def _restore(path: Path, net: nn.Module, head: nn.Module, opt: torch.optim.Optimizer) -> dict:
    from safetensors import safe_open

    tensors = load_file(str(path))
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
    head.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("head.")})
    sd = opt.state_dict()
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, i, key = k.split(".", 2)
            state.setdefault(int(i), {})[key] = v
    sd["state"] = state
    opt.load_state_dict(sd)
    return meta


def training_batch(seed: int, step: int, batch: int, cache: Optional[Path] = None):
    """The training batch of (seed, step): generated, or read from ``cache`` where an earlier
    run with the same seed wrote it (bit-identical: every model of a seed sees the same batches,
    so a zoo trains once through the generator). Returns (images, labels, present)."""
    if cache is None:
        b = generate(batch, seed=data_seed(seed, step))
        return b.images, b.labels, b.present
    path = Path(cache) / f"s{seed}_b{batch}_{step:06d}.safetensors"
    if path.exists():
        from safetensors import safe_open

        t = load_file(str(path))
        with safe_open(str(path), "pt") as f:
            stride = json.loads((f.metadata() or {})["images_stride"])
        # the generator's memory layout too: convolutions round differently on another layout
        images = torch.empty_strided(t["images"].shape, stride, dtype=t["images"].dtype).copy_(t["images"])
        return images, t["labels"], t["present"]
    b = generate(batch, seed=data_seed(seed, step))
    write_bytes(
        path,
        save(
            {"images": b.images.contiguous(), "labels": b.labels.contiguous(), "present": b.present.contiguous()},
            metadata={"images_stride": json.dumps(list(b.images.stride()))},
        ),
    )
    return b.images, b.labels, b.present


def train(
    cfg: TrainConfig,
    out_dir: str | Path,
    device: Optional[str] = None,
    progress: bool = True,
    data_cache: Optional[str | Path] = None,
) -> TrainResult:
    """Train ``cfg.arch`` with ``cfg.seed``; writes ``out_dir/<name>.safetensors`` (network only).

    A checkpoint ``out_dir/.<name>.train.safetensors`` (network, head, optimiser, step,
    elapsed time) is written atomically every ``checkpoint_every`` steps and resumed from if
    present; it is removed when training finishes. ``data_cache``: a folder where generated
    batches are kept and reused by later runs of the same seed (speed only; results identical).
    """
    if cfg.steps < 1 or cfg.batch < 1:
        raise InputError(f"steps and batch must be >= 1, got steps={cfg.steps}, batch={cfg.batch}")
    dev = torch.device(device) if device else torch.device("cpu")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / f".{cfg.name}.train.safetensors"
    net = init_model(cfg.arch, cfg.seed, cfg.supervised).to(dev)
    torch.manual_seed(init_seed(cfg.arch, cfg.seed, cfg.supervised) + 1)
    head = aux_head(net, cfg.arch).to(dev)
    params = list(net.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = lambda s: (
        cfg.lr * min(1.0, (s + 1) / 50) * 0.5 * (1 + torch.cos(torch.tensor(s / cfg.steps * 3.14159265)).item())
    )  # noqa: E731
    start, elapsed, cpu = 0, 0.0, 0.0
    clean_stale_tmp(out, recursive=False)  # leftovers of a checkpoint write killed mid-way
    if ckpt.exists() and not _same_run(ckpt, cfg):  # compared before any tensor is loaded
        log.warning("checkpoint %s was made with other settings; starting %s afresh", ckpt, cfg.name)
        ckpt.unlink()
    if ckpt.exists():
        meta = _restore(ckpt, net, head, opt)
        start, elapsed, cpu = int(meta.get("step", 0)), float(meta.get("elapsed", 0.0)), float(meta.get("cpu", 0.0))
        log.info("resuming %s from step %d", cfg.name, start)
    feats: dict[str, torch.Tensor] = {}
    hooks = [
        _module(net, name).register_forward_hook(lambda m, i, o, name=name: feats.__setitem__(name, i[0]))
        for name in AUX_INPUTS[cfg.arch]
    ]
    norm = Normalise()
    net.train()
    loss_v = float("nan")
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        bar = tqdm(
            range(start, cfg.steps), initial=start, total=cfg.steps, disable=not progress, desc=cfg.name, unit="step"
        )
        for step in bar:
            images, labels, present = training_batch(
                cfg.seed, step, cfg.batch, Path(data_cache) if data_cache else None
            )
            x, y, pres = images.to(dev), labels.to(dev), present.float().to(dev)
            for g in opt.param_groups:
                g["lr"] = sched(step)
            logits = net(norm(x))
            loss = F.cross_entropy(logits, y)
            if cfg.supervised:
                pre = torch.cat([feats[name] for name in AUX_INPUTS[cfg.arch]], 1)
                aux = head(pre.amax(dim=(2, 3)))
                aux_loss = F.binary_cross_entropy_with_logits(
                    aux, pres, pos_weight=torch.full_like(aux[0], cfg.aux_pos_weight)
                )
                loss = loss + cfg.aux_weight * aux_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_v = float(loss.detach())
            if step % 20 == 0:
                bar.set_postfix(loss=f"{loss_v:.3f}")
            done = step + 1
            if done % cfg.checkpoint_every == 0 and done < cfg.steps:
                meta = {
                    "step": str(done),
                    "elapsed": str(elapsed + time.perf_counter() - t0),
                    "cpu": str(cpu + time.process_time() - c0),
                    "config": json.dumps(asdict(cfg)),
                }
                write_bytes(ckpt, save(_state(net, head, opt), metadata=meta))
    finally:
        for h in hooks:
            h.remove()
    elapsed += time.perf_counter() - t0
    cpu += time.process_time() - c0
    net.eval()
    weights = out / f"{cfg.name}.safetensors"
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    write_bytes(
        weights,
        save(
            state,
            metadata={
                "arch": cfg.arch,
                "seed": str(cfg.seed),
                "steps": str(cfg.steps),
                "supervised": str(cfg.supervised),
                "init_seed": str(init_seed(cfg.arch, cfg.seed, cfg.supervised)),
            },
        ),
    )
    write_json(
        out / f".{cfg.name}.train.json",
        {**asdict(cfg), "train_seconds": round(elapsed, 1), "cpu_seconds": round(cpu, 1), "final_loss": loss_v},
    )
    ckpt.unlink(missing_ok=True)
    return TrainResult(cfg.name, str(weights), cfg.steps, elapsed, loss_v, cpu)
