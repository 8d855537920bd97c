"""The render loop with the opt-in speed options of :class:`RenderConfig`.

``precision`` (bf16/fp16 autocast), ``channels_last``, ``compile``, ``coarse_to_fine``,
``lr_schedule`` and ``early_stop``. The default loop (``render._optimise``) stays as it is,
so renders made without these options do not change; this one is used as soon as any of
them is set. What is optimised is the same (parameterisation, seeds, transforms, redirected
ReLU steps); reported objective values are always float32 on the untransformed full-size
image.
"""
from __future__ import annotations

import time
from typing import Callable, Mapping

import torch

from visioncircuits.featvis.coarse_to_fine import coarse_size, tile_param
from visioncircuits.featvis.config import RenderConfig
from visioncircuits.featvis.param import make_param
from visioncircuits.featvis.precision import autocast, channels_last_model, to_channels_last
from visioncircuits.featvis.schedule import PlateauStop, lr_factor
from visioncircuits.featvis.seeding import ImageRNG

COARSE_FACTOR = 2


def uses_speed_options(cfg: RenderConfig) -> bool:
    """True when ``cfg`` asks for any option only this loop implements."""
    return (cfg.precision != "fp32" or cfg.channels_last or cfg.compile or bool(cfg.coarse_to_fine)
            or cfg.lr_schedule != "constant" or cfg.early_stop is not None)


def _forward_fn(model, layers, value_fn: Callable[[Mapping], torch.Tensor], compile_: bool):
    def fwd(images: torch.Tensor) -> torch.Tensor:
        return value_fn(model.run_with_cache(images, sorted(layers), detach=False))

    return torch.compile(fwd, dynamic=False) if compile_ else fwd


def optimise_fast(model, n, value_fn, layers, cfg: RenderConfig, size, seeds, transforms, bar, history,
                  redirect, rr):
    """Same contract as ``render._optimise``; returns (images, final values)."""
    from visioncircuits.featvis.stride_aware import resolve_model_transforms

    device = model.device
    steps, eval_every = cfg.steps, cfg.eval_every
    n_coarse = int(round(cfg.coarse_to_fine * steps)) if cfg.coarse_to_fine else 0
    cur = coarse_size(size, COARSE_FACTOR) if n_coarse else size
    tf = resolve_model_transforms(model, cfg.transforms, layers, cur) if n_coarse else transforms

    def new_param(side):
        return make_param(cfg.param, n, side, seeds=seeds, device=device, **cfg.param_kwargs)

    p = new_param(cur)
    params = [t for t in p.parameters() if t.requires_grad]
    base_lr = cfg.lr or p.default_lr
    opt = torch.optim.Adam(params, lr=base_lr)
    gen = ImageRNG(seeds)  # each image's own transform draws, as in the default loop
    stopper = PlateauStop(cfg.early_stop, steps)
    fwd = _forward_fn(model, layers, value_fn, cfg.compile)
    elapsed = 0.0

    def full_image():
        img = p()
        return img if img.shape[-1] == size else img.repeat(1, 1, COARSE_FACTOR, COARSE_FACTOR)

    with channels_last_model(model.net, cfg.channels_last):
        for step in range(1, steps + 1):
            t0 = time.perf_counter()
            if n_coarse and step == n_coarse + 1:  # switch to full size: tile the small image
                big = new_param(size)
                tile_param(p, big, COARSE_FACTOR)
                p, tf = big, transforms
                params = [t for t in p.parameters() if t.requires_grad]
                opt = torch.optim.Adam(params, lr=base_lr)
            for group in opt.param_groups:
                group["lr"] = base_lr * lr_factor(cfg.lr_schedule, step, steps)
            rr.active = step <= redirect
            images = to_channels_last(tf(p(), gen), cfg.channels_last)
            with autocast(device, cfg.precision):
                vals = fwd(images)
            vals = vals.float()
            grads = torch.autograd.grad(-vals.sum(), params)
            for t, g in zip(params, grads):
                t.grad = g
            opt.step()
            stop = stopper.update(float(vals.detach().mean())) if cfg.early_stop is not None else False
            elapsed += time.perf_counter() - t0
            if bar is not None:
                bar.update(1)
            if history is not None and eval_every and (step % eval_every == 0 or step == steps or stop):
                rr.active = False
                with torch.no_grad():
                    history.append((step, elapsed, value_fn(model.run_with_cache(
                        to_channels_last(full_image(), cfg.channels_last), sorted(layers))).float().tolist()))
            if stop:
                if bar is not None:
                    bar.update(steps - step)
                break
        rr.active = False
        with torch.no_grad():
            final = full_image().detach()
            values = value_fn(model.run_with_cache(to_channels_last(final, cfg.channels_last), sorted(layers)))
    return final.contiguous(), values.float().detach()
