"""The rendering engine: optimise one image per objective, many objectives per batch.

Why it is faster than Lucent's ``render_vis`` on the same settings:
- many units share one optimisation (one unit per batch image), chunked to a memory budget;
- the forward pass stops after the deepest layer the objectives read;
- gradients flow only to the image parameters (``torch.autograd.grad``), never to weights;
- per-image transforms are fused into one ``grid_sample``;
- channel objectives on one layer are gathered in one indexing op, not a Python loop.

Dead ReLU units (exactly 0 on the initial image, so no gradient) get Lucid's redirected
ReLU gradient for the first steps (``redirect_relu=``, see :mod:`featvis.redirect`).
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, Union

import torch
from tqdm.auto import tqdm

from visioncircuits.errors import InputError
from visioncircuits.featvis.objectives import LOGITS, Objective, UnitObjective, as_objective, needed_layers
from visioncircuits.featvis.param import make_param
from visioncircuits.featvis.redirect import redirect_relus
from visioncircuits.featvis.stride_aware import resolve_model_transforms
from visioncircuits.units import Unit

log = logging.getLogger(__name__)

Target = Union[str, Unit, Objective]
DEFAULT_BUDGET_MB = 2048
REDIRECT_STEPS = 16  # Lucid's: redirected ReLU gradients for the first 16 steps


def redirect_steps(redirect_relu: Union[bool, int, float, None], steps: int) -> int:
    """How many of the first ``steps`` use redirected ReLU gradients.

    ``True`` (default): Lucid's 16, but at most half the steps, so short renders still spend
    half their steps on the true objective; ``False``/``None``/0: none; an int: that many;
    a float in (0, 1): that fraction of the steps.
    """
    if redirect_relu is None or redirect_relu is False:
        return 0
    if redirect_relu is True:
        return min(REDIRECT_STEPS, steps // 2)
    if isinstance(redirect_relu, float) and 0 < redirect_relu < 1:
        return int(round(redirect_relu * steps))
    if isinstance(redirect_relu, (int, float)) and redirect_relu >= 0 and float(redirect_relu).is_integer():
        return min(int(redirect_relu), steps)
    raise InputError(f"redirect_relu must be True/False, a number of steps >= 0 or a fraction in (0, 1), got {redirect_relu!r}")


@dataclass
class RenderResult:
    """Rendered images (N, 3, S, S) on the CPU in [0, 1] and the objective each reached.

    ``values[i]`` is objective ``i`` on untransformed image ``i`` after the last step.
    ``history`` (when ``eval_every`` > 0): ``(step, seconds_of_optimisation, values)`` rows.
    """

    images: torch.Tensor
    values: list
    names: list
    size: int
    steps: int
    param: str
    seed: int
    seconds: float
    history: list = field(default_factory=list)
    redirect_steps: int = 0  # first steps that used redirected ReLU gradients

    def pil(self, i: int):
        from visioncircuits.data import to_pil

        return to_pil(self.images[i])

    def __len__(self) -> int:
        return len(self.values)


# ---------------------------------------------------------------- forward pass
def forward_acts(model, images: torch.Tensor, layers: frozenset) -> dict:
    """Activations of ``layers`` with the graph kept; stops early unless the logits are needed."""
    real = [layer for layer in layers if layer != LOGITS]
    if LOGITS not in layers:
        return model.run_with_cache(images, real, detach=False)
    cache: dict = {}

    def grab(out, layer):
        cache.setdefault(layer, out)
        return None  # never replace the output

    with model.hooks([(layer, grab) for layer in real]):
        cache[LOGITS] = model(images)
    return cache


def per_image_values(objectives: Sequence[Objective], acts: dict) -> torch.Tensor:
    """``out[i] = objectives[i](acts)[i]``: plain channel objectives are gathered in bulk."""
    n = len(objectives)
    groups: dict = defaultdict(list)
    others = []
    for i, o in enumerate(objectives):
        if isinstance(o, UnitObjective) and o.unit.kind == "channel" and acts[o.unit.layer].dim() == 4:
            groups[(o.unit.layer, o.unit.has_position)].append(i)
        else:
            others.append(i)
    pieces, rows_all = [], []
    for (layer, has_pos), rows in groups.items():
        a = acts[layer]
        r = torch.tensor(rows, device=a.device)
        ch = torch.tensor([objectives[i].unit.index for i in rows], device=a.device)
        if has_pos:
            ys = torch.tensor([objectives[i].unit.y for i in rows], device=a.device)
            xs = torch.tensor([objectives[i].unit.x for i in rows], device=a.device)
            pieces.append(a[r, ch, ys, xs])
        else:
            pieces.append(a[r, ch].mean(dim=(1, 2)))
        rows_all.extend(rows)
    for i in others:
        sliced = {k: v[i:i + 1] for k, v in acts.items()}
        pieces.append(objectives[i](sliced).reshape(1))
        rows_all.append(i)
    vals = torch.cat(pieces)
    order = torch.empty(n, dtype=torch.long)
    order[torch.tensor(rows_all)] = torch.arange(n)
    return vals[order.to(vals.device)]


# ---------------------------------------------------------------- memory budget
def auto_batch_size(model, layers: frozenset, size: int, budget_mb: Optional[float] = None) -> int:
    """Images per chunk so the activations kept for backward fit in ``budget_mb`` (a rough bound)."""
    info = model.layer_info(size)
    deepest = max((info[layer].order for layer in layers if layer != LOGITS), default=-1)
    if LOGITS in layers:
        deepest = len(info)
    floats = sum(_numel(i.shape) for i in info.values() if i.order <= deepest)
    per_image = max(1, floats * 4 * 3)  # activation + grad + transforms slack, float32
    if budget_mb is None:
        budget_mb = DEFAULT_BUDGET_MB
        if model.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(model.device)
            budget_mb = 0.5 * free / 2**20
    return max(1, int(budget_mb * 2**20 // per_image))


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


# ---------------------------------------------------------------- optimisation
def optimise(model, n: int, value_fn: Callable[[dict], torch.Tensor], layers: frozenset, *,
             steps: int, size: int, param: str, seed: int, first_index: int, transforms, lr: Optional[float],
             param_kwargs: dict, bar: Optional[tqdm], eval_every: int = 0, history: Optional[list] = None,
             redirect: int = 0):
    """Optimise ``n`` images so ``value_fn(acts)`` (per image, shape (n,)) goes up.

    The first ``redirect`` steps use redirected ReLU gradients, the rest true gradients.
    Returns (images on the model's device, final per-image values on untransformed images,
    always the true objective).
    """
    with redirect_relus(model, enabled=redirect > 0) as rr:
        return _optimise(model, n, value_fn, layers, steps=steps, size=size, param=param, seed=seed,
                         first_index=first_index, transforms=transforms, lr=lr, param_kwargs=param_kwargs, bar=bar,
                         eval_every=eval_every, history=history, redirect=redirect, rr=rr)


def _optimise(model, n, value_fn, layers, *, steps, size, param, seed, first_index, transforms, lr, param_kwargs,
              bar, eval_every, history, redirect, rr):
    device = model.device
    p = make_param(param, n, size, seed=seed, first_index=first_index, device=device, **param_kwargs)
    params = [t for t in p.parameters() if t.requires_grad]
    opt = torch.optim.Adam(params, lr=lr or p.default_lr)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed) * 7919 + first_index)
    elapsed = 0.0
    for step in range(1, steps + 1):
        t0 = time.perf_counter()
        rr.active = step <= redirect
        images = transforms(p(), gen)
        acts = forward_acts(model, images, layers)
        loss = -value_fn(acts).sum()
        grads = torch.autograd.grad(loss, params)
        for t, g in zip(params, grads):
            t.grad = g
        opt.step()
        elapsed += time.perf_counter() - t0
        if bar is not None:
            bar.update(1)
        if history is not None and eval_every and (step % eval_every == 0 or step == steps):
            rr.active = False
            with torch.no_grad():
                history.append((step, elapsed, value_fn(forward_acts(model, p(), layers)).tolist()))
    rr.active = False
    with torch.no_grad():
        final = p().detach()
        values = value_fn(forward_acts(model, final, layers))
    return final, values.detach()


def _setup(model, size, steps):
    size = int(size or model.spec.input_size)
    if size < 1 or steps < 0:
        raise InputError(f"size must be >= 1 and steps >= 0, got size={size}, steps={steps}")
    return size


def render(model, units: Union[Target, Sequence[Target]], *, steps: int = 256, size: Optional[int] = None,
           param: str = "fft", seed: int = 0, batch_size: Optional[int] = None, transforms="default",
           lr: Optional[float] = None, progress: bool = True, memory_budget_mb: Optional[float] = None,
           param_kwargs: Optional[dict] = None, eval_every: int = 0,
           redirect_relu: Union[bool, int, float] = True) -> RenderResult:
    """Render one image per unit/objective; units are ``"layer:ch"`` strings, ``Unit``s or objectives.

    Deterministic for a given ``seed`` (and batch size). ``size`` defaults to the model's input
    size; ``batch_size`` defaults to what fits ``memory_budget_mb``. ``param_kwargs`` go to the
    parameterisation (e.g. ``magnitude=`` for MACO, ``colour=`` for FFT). ``transforms``:
    "default", "lucent", "stride_aware" (tuned to the deepest target layer's total stride,
    against checkerboards; ``featvis.stride_aware``), "none", a list or a Transform. ``redirect_relu``:
    redirected ReLU gradients for the first steps so dead units move (see :func:`redirect_steps`);
    ``values`` are always the true objective on the final image.
    """
    if isinstance(units, (str, Unit, Objective)):
        units = [units]
    objectives = [as_objective(model, u) for u in units]
    if not objectives:
        raise InputError("nothing to render: give at least one unit")
    size = _setup(model, size, steps)
    n_redirect = redirect_steps(redirect_relu, steps)
    layers = needed_layers(objectives)
    tf = resolve_model_transforms(model, transforms, layers, size)
    bs = int(batch_size or auto_batch_size(model, layers, size, memory_budget_mb))
    if bs < 1:
        raise InputError(f"batch_size must be >= 1, got {bs}")
    t0 = time.perf_counter()
    images, values, history = [], [], []
    n_chunks = -(-len(objectives) // bs)
    with tqdm(total=steps * n_chunks, desc=f"render {len(objectives)} units", unit="step", disable=not progress) as bar:
        for start in range(0, len(objectives), bs):
            chunk = objectives[start:start + bs]
            chunk_layers = needed_layers(chunk)
            imgs, vals = optimise(
                model, len(chunk), lambda acts, c=chunk: per_image_values(c, acts), chunk_layers,
                steps=steps, size=size, param=param, seed=seed, first_index=start, transforms=tf, lr=lr,
                param_kwargs=dict(param_kwargs or {}), bar=bar, eval_every=eval_every,
                history=history if eval_every else None, redirect=n_redirect)
            images.append(imgs.cpu())
            values.extend(float(v) for v in vals.cpu())
    seconds = time.perf_counter() - t0
    log.info("rendered %d units x %d steps at %d px in %.1f s", len(objectives), steps, size, seconds)
    return RenderResult(torch.cat(images), values, [o.name for o in objectives], size, steps, param, seed, seconds, history,
                        n_redirect)


def render_batch(model, objective: Target, n: int, *, steps: int = 256, size: Optional[int] = None,
                 param: str = "fft", seed: int = 0, transforms="default", lr: Optional[float] = None,
                 progress: bool = True, param_kwargs: Optional[dict] = None,
                 redirect_relu: Union[bool, int, float] = True) -> RenderResult:
    """Render ``n`` images that share one batch-level objective (e.g. a unit plus diversity).

    ``values[i]`` is the objective's per-image term for image ``i``.
    """
    obj = as_objective(model, objective)
    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    size = _setup(model, size, steps)
    n_redirect = redirect_steps(redirect_relu, steps)
    t0 = time.perf_counter()
    with tqdm(total=steps, desc=f"render {obj.name} x{n}", unit="step", disable=not progress) as bar:
        imgs, vals = optimise(model, n, obj, obj.layers, steps=steps, size=size, param=param, seed=seed,
                              first_index=0, transforms=resolve_model_transforms(model, transforms, obj.layers, size), lr=lr,
                              param_kwargs=dict(param_kwargs or {}), bar=bar, redirect=n_redirect)
    return RenderResult(imgs.cpu(), [float(v) for v in vals.cpu()], [obj.name] * n, size, steps, param, seed,
                        time.perf_counter() - t0, redirect_steps=n_redirect)


def render_diverse(model, unit: Target, n: int = 4, *, weight: float = 1.0, layer: Optional[str] = None,
                   **kwargs) -> RenderResult:
    """``n`` different images of one unit: the unit objective plus ``weight`` times diversity.

    Diversity is measured at the unit's own layer unless ``layer`` is given. ``values`` are
    the unit's own activation on each image (not including the diversity term).
    """
    obj = as_objective(model, unit)
    div_layer = layer or next((l for l in sorted(obj.layers) if l != LOGITS), None)
    if div_layer is None:
        raise InputError("give layer= for the diversity term of a class-logit objective")
    from visioncircuits.featvis.objectives import diversity

    result = render_batch(model, obj + weight * diversity(div_layer), n, **kwargs)
    with torch.no_grad():
        imgs = result.images.to(model.device)
        result.values = [float(v) for v in obj(forward_acts(model, imgs, obj.layers)).cpu()]
    result.names = [obj.name] * n
    return result
