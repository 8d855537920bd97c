"""Train an SAE on a stream of activation samples, with atomic checkpoints and resume.

Recipe (Gao et al. 2024; Bricken et al. 2023): inputs scaled so their mean L2 norm is 1;
pre-bias ``b_dec`` initialised at the geometric median (or mean) of a sample; encoder
initialised as the decoder transpose; decoder rows renormalised to unit norm after every
step with the parallel gradient component removed; Adam with a short warm-up and a linear
decay over the last 20% of steps; the auxiliary loss revives latents that have not fired for
``dead_after`` samples.

Why checkpoints hold everything (weights, Adam moments, dead-latent counters): a resumed
run then continues exactly the optimisation it was doing, only with fresh data (the stream
is reseeded from the step).
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Union

import torch
from tqdm.auto import tqdm

from visioncircuits.atomic import clean_stale_tmp
from visioncircuits.sae.checkpoint import CHECKPOINT_FILE, load_checkpoint, save_checkpoint
from visioncircuits.sae.io import save_sae
from visioncircuits.sae.losses import step_loss
from visioncircuits.sae.models import ARCHITECTURES, SparseAutoencoder

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Everything that defines a run (saved in ``cfg.json`` and checked on resume)."""

    d_sae: int = 512
    k: Optional[int] = 16
    architecture: str = "topk"
    steps: int = 2000
    batch_size: int = 4096
    lr: float = 1e-3
    warmup_steps: int = 50
    decay_start: float = 0.8  # fraction of steps after which the lr decays linearly to 0
    aux_k: Optional[int] = None  # dead latents in the AuxK loss; None: d_in // 2 (Gao et al.), at most 512
    aux_coeff: float = 1 / 32
    dead_after: int = 200_000  # samples without firing before a latent counts as dead
    l1_coeff: float = 1.0
    init_samples: int = 16384
    init_bias: str = "median"  # "median" (geometric) | "mean" | "zero"
    checkpoint_every: int = 200
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Validate every field; errors name the field (``TrainConfig.d_sae must be ...``)."""
        from visioncircuits.sae.config import ConfigFieldError, check_float, check_int, check_optional_int

        if self.architecture not in ARCHITECTURES:
            from visioncircuits.errors import unknown

            raise unknown("SAE architecture", self.architecture, ARCHITECTURES)
        own = "TrainConfig"
        for name in ("d_sae", "steps", "batch_size", "dead_after", "init_samples", "checkpoint_every"):
            check_int(own, name, getattr(self, name))
        check_int(own, "warmup_steps", self.warmup_steps, lo=0)
        check_int(own, "seed", self.seed, lo=-(2**63))
        check_optional_int(own, "aux_k", self.aux_k)
        if self.architecture != "relu":
            check_int(own, "k", self.k, 1, self.d_sae, "d_sae")
        check_float(own, "lr", self.lr, positive=True)
        for name in ("aux_coeff", "l1_coeff"):
            check_float(own, name, getattr(self, name), nonnegative=True)
        if not 0.0 <= check_float(own, "decay_start", self.decay_start) <= 1.0:
            raise ConfigFieldError(own, "decay_start", f"must be between 0 and 1, got {self.decay_start}")
        if self.init_bias not in ("median", "mean", "zero"):
            raise ConfigFieldError(own, "init_bias", f"must be median, mean or zero, got {self.init_bias!r}")


def geometric_median(x: torch.Tensor, iters: int = 50, eps: float = 1e-6) -> torch.Tensor:
    """Weiszfeld's algorithm: the point minimising the sum of distances to the rows of ``x``."""
    m = x.mean(0)
    for _ in range(iters):
        w = 1.0 / (x - m).norm(dim=1).clamp_min(eps)
        new = (w[:, None] * x).sum(0) / w.sum()
        if (new - m).norm() < eps * (1 + m.norm()):
            return new
        m = new
    return m


@torch.no_grad()
def initialise(sae: SparseAutoencoder, sample: torch.Tensor, init_bias: str = "median") -> None:
    """Set ``input_scale`` (unit mean norm) and the pre-bias from a sample of activations."""
    mean_norm = sample.norm(dim=1).mean().clamp_min(1e-8)
    sae.input_scale.fill_(float(1.0 / mean_norm))
    xs = sample * sae.input_scale
    if init_bias == "median":
        sae.b_dec.copy_(geometric_median(xs))
    elif init_bias == "mean":
        sae.b_dec.copy_(xs.mean(0))
    else:
        sae.b_dec.zero_()


def _lr_factor(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    start = int(cfg.decay_start * cfg.steps)
    if step >= start and cfg.steps > start:
        return max(0.0, (cfg.steps - step) / (cfg.steps - start))
    return 1.0


OPTIONAL_KEYS = ("weights",)  # compared only when both fingerprints have them (older SAEs lack them)


def _fingerprint(cfg: TrainConfig, meta: dict) -> dict:
    keep = ("d_sae", "k", "architecture", "steps", "batch_size", "lr", "seed", "aux_k", "l1_coeff")
    fp = {**{k: getattr(cfg, k) for k in keep}, "layer": meta.get("layer"), "model": meta.get("model")}
    iso = (meta.get("training_data") or {}).get("isolated_fraction")
    if iso:  # only when set, so fingerprints of runs without it are unchanged
        fp["isolated_fraction"] = iso
    if meta.get("model_weights"):  # the model's weights digest (visioncircuits.fingerprint.weights_digest)
        fp["weights"] = meta["model_weights"]
    return fp


def fingerprint_differences(old: dict, new: dict) -> list:
    """``["d_sae 64 -> 32", ...]``: fields whose values differ (optional keys only when both have them)."""
    out = []
    for k in sorted(set(old) | set(new)):
        if k in OPTIONAL_KEYS and (k not in old or k not in new):
            continue
        if old.get(k) != new.get(k):
            out.append(f"{k} {old.get(k)!r} -> {new.get(k)!r}")
    return out


def folder_conflict(out: Optional[Path], fp: dict) -> Optional[str]:
    """Why ``out`` cannot take a run with fingerprint ``fp`` without overwriting, or None.

    Reads only ``cfg.json`` (never tensors), so it runs before the model loads or anything is
    written: a finished SAE of other settings (or one whose settings cannot be read) conflicts."""
    f = None if out is None else Path(out) / "cfg.json"
    if f is None or not f.exists():
        return None
    try:
        rec = json.loads(f.read_text())
        old = rec.get("training", {}).get("fingerprint")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return f"{out} holds an SAE whose cfg.json cannot be read"
    if not isinstance(old, dict):
        return f"{out} holds an SAE without a training record (imported or written by another tool)"
    diffs = fingerprint_differences(old, fp)
    if not diffs:
        return None
    more = f" and {len(diffs) - 3} more" if len(diffs) > 3 else ""
    return f"{out} holds a finished SAE trained with other settings ({', '.join(diffs[:3])}{more})"


def checkpoint_fingerprint(out: Optional[Path]) -> Optional[dict]:
    """The fingerprint recorded in ``out``'s checkpoint metadata (no tensors are read), or None."""
    path = None if out is None else Path(out) / CHECKPOINT_FILE
    if path is None or not path.exists():
        return None
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return json.loads((f.metadata() or {})["state"]).get("fingerprint")
    except (SafetensorError, OSError, KeyError, ValueError, AttributeError):
        return None


def _finished(out: Optional[Path], fp: dict) -> Optional[SparseAutoencoder]:
    """The SAE already trained in ``out`` with the same settings, if any (so a rerun skips it)."""
    if out is None or not (out / "cfg.json").exists() or folder_conflict(out, fp) is not None:
        return None
    from visioncircuits.errors import VisionCircuitsError
    from visioncircuits.sae.io import load_sae

    try:
        sae = load_sae(out)
    except VisionCircuitsError as e:
        log.warning("ignoring unreadable SAE in %s: %s", out, e)
        return None
    tr = sae.cfg.get("training", {})
    return sae if tr.get("finished") else None


def train_sae(stream, d_in: int, cfg: TrainConfig, out_dir: Union[str, os.PathLike, None] = None,
              meta: Optional[dict] = None, progress: bool = True, device: Optional[torch.device] = None,
              stop_after: Optional[int] = None, overwrite: bool = False) -> SparseAutoencoder:
    """Train an SAE on ``stream`` (anything with ``batches(batch_size, start)`` and ``sample(n)``).

    With ``out_dir`` the run checkpoints every ``cfg.checkpoint_every`` steps and resumes from
    a checkpoint found there (if it was made with the same settings), and the finished SAE
    is saved there with ``meta`` (layer, model, training data...) in ``cfg.json``.
    ``stop_after`` ends the run early after that many steps *of this call* without
    finishing (for tests of resume and for time-limited jobs). A finished SAE of other
    settings in ``out_dir`` is an ``InputError`` (nothing touched) unless ``overwrite``.
    Settings are compared with a checkpoint's before any tensor is loaded: a checkpoint of
    other settings is discarded (the run starts afresh).
    """
    cfg.check()
    meta = dict(meta or {})
    out = Path(out_dir) if out_dir is not None else None
    fp = _fingerprint(cfg, meta)
    conflict = folder_conflict(out, fp)
    if conflict and not overwrite:
        from visioncircuits.errors import InputError

        raise InputError(f"{conflict}; pass overwrite=True (CLI: --overwrite) to replace it, or choose another folder")
    if out is not None:
        clean_stale_tmp(out, recursive=False)
    device = torch.device(device) if device is not None else torch.device("cpu")
    torch.manual_seed(cfg.seed)
    sae = SparseAutoencoder(d_in, cfg.d_sae, cfg.architecture, cfg.k if cfg.architecture != "relu" else None).to(device)
    opt = torch.optim.Adam(sae.parameters(), lr=cfg.lr, betas=(0.9, 0.999))
    since_fired = torch.zeros(cfg.d_sae, dtype=torch.long, device=device)
    finished = _finished(out, fp)
    if finished is not None:
        log.info("SAE in %s already finished with these settings; not retraining", out)
        return finished.to(device)
    start, history = 0, {}
    ck_fp = checkpoint_fingerprint(out)
    if ck_fp is not None and fingerprint_differences(ck_fp, fp):  # compared before any tensor is loaded
        log.warning("checkpoint in %s was made with other settings (%s); starting afresh", out,
                    ", ".join(fingerprint_differences(ck_fp, fp)[:3]))
        state = None
    else:
        state = load_checkpoint(out, sae, opt, since_fired) if out is not None else None
    if state is not None:
        start, history = int(state["step"]), state.get("history", {})
        log.info("resuming SAE training from step %d", start)
    else:
        initialise(sae, stream.sample(cfg.init_samples).to(device), cfg.init_bias)
    sae.train()
    aux_k = cfg.aux_k if cfg.aux_k is not None else max(1, min(512, d_in // 2))
    batches: Iterator[torch.Tensor] = stream.batches(cfg.batch_size, start=start)
    bar = tqdm(total=cfg.steps, initial=start, desc=f"sae {cfg.architecture}", unit="step", disable=not progress)
    t0, seen = time.perf_counter(), 0
    ema: dict = dict(history.get("ema", {}))
    step = start
    try:
        for step in range(start, cfg.steps):
            if stop_after is not None and step - start >= stop_after:
                break
            x = next(batches).to(device, torch.float32)
            for g in opt.param_groups:
                g["lr"] = cfg.lr * _lr_factor(step, cfg)
            dead = since_fired >= cfg.dead_after
            res = step_loss(sae, x, dead, aux_k, cfg.aux_coeff, cfg.l1_coeff)
            opt.zero_grad(set_to_none=True)
            res.loss.backward()
            sae.remove_parallel_grad()
            opt.step()
            sae.normalize_decoder()
            since_fired += x.shape[0]
            since_fired[res.fired] = 0
            if res.min_active is not None:  # BatchTopK inference threshold: EMA of the smallest kept value
                if float(sae.threshold) <= 0:
                    sae.threshold.fill_(res.min_active)
                else:
                    sae.threshold.mul_(0.99).add_(0.01 * res.min_active)
            with torch.no_grad():
                xs = x * sae.input_scale
                fvu = float(res.recon / (xs - xs.mean(0)).pow(2).sum(-1).mean().clamp_min(1e-12))
            for key, val in (("ev", 1 - fvu), ("l0", res.l0), ("aux", float(res.aux))):
                ema[key] = val if key not in ema else 0.95 * ema[key] + 0.05 * val
            seen += x.shape[0]
            bar.update(1)
            if progress and (step % 10 == 0 or step == cfg.steps - 1):
                dead_frac = float(dead.float().mean())
                bar.set_postfix(ev=f"{ema['ev']:.3f}", l0=f"{ema['l0']:.1f}", dead=f"{dead_frac:.2f}",
                                sps=f"{seen / max(time.perf_counter() - t0, 1e-9):.0f}")
            if out is not None and (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.steps:
                ck_state = {"step": step + 1, "fingerprint": fp, "history": {"ema": ema}}
                save_checkpoint(out, sae, opt, since_fired, ck_state)
        else:
            step = cfg.steps
    finally:
        bar.close()
    done = step >= cfg.steps
    if not done and out is not None:
        save_checkpoint(out, sae, opt, since_fired, {"step": step, "fingerprint": fp, "history": {"ema": ema}})
    sae.eval()
    sae.cfg.update(meta)
    sae.cfg.update(training={**asdict(cfg), "fingerprint": fp, "steps_done": step, "finished": done,
                             "dead_fraction_at_end": float((since_fired >= cfg.dead_after).float().mean()),
                             "train_ev_ema": ema.get("ev"), "train_l0_ema": ema.get("l0"),
                             "samples_per_second": seen / max(time.perf_counter() - t0, 1e-9)})
    if done and out is not None:
        save_sae(sae, out)
        ck = out / CHECKPOINT_FILE
        if ck.exists():
            ck.unlink()
    return sae
