"""The rendering engine: optimise one image per objective, many objectives per batch.

Why it is faster than Lucent's ``render_vis`` on the same settings:
- many units share one optimisation (one unit per batch image), chunked to a memory budget;
- the forward pass stops after the deepest layer the objectives read;
- gradients flow only to the image parameters (``torch.autograd.grad``), never to weights;
- per-image transforms are fused into one ``grid_sample``;
- channel objectives on one layer are gathered in one indexing op, not a Python loop.

Every image is seeded from its own identity (:mod:`featvis.seeding`): the model's name, its
key (by default the objective's name; the gallery passes the unit address and role) and the
seed, for both its initial values and its transform draws. So a unit renders from the same
random numbers alone, in any batch, at any batch size, in any shard or after a resume.

Dead ReLU units (exactly 0 on the initial image, so no gradient) get Lucid's redirected
ReLU gradient for the first steps (``redirect_relu=``, see :mod:`featvis.redirect`).
"""
from __future__ import annotations

import logging
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence, Union

import torch
from tqdm.auto import tqdm

from visioncircuits.cache import ActivationCache
from visioncircuits.device import numeric_mode
from visioncircuits.errors import InputError
from visioncircuits.featvis.config import RenderConfig
from visioncircuits.featvis.objectives import Objective, UnitObjective, as_objective, needed_layers
from visioncircuits.featvis.param import make_param
from visioncircuits.featvis.redirect import redirect_relus
from visioncircuits.featvis.seeding import ImageRNG, image_seeds
from visioncircuits.featvis.stride_aware import resolve_model_transforms
from visioncircuits.hooks import HookedModel
from visioncircuits.keys import is_logits
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
    raise InputError(
        f"redirect_relu must be True/False, a number of steps >= 0 or a fraction in (0, 1), got {redirect_relu!r}"
    )


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
def forward_acts(model: HookedModel, images: torch.Tensor, layers: frozenset) -> ActivationCache:
    """Deprecated: use ``model.run_with_cache(images, layers, detach=False)`` (handles ``LOGITS``)."""
    warnings.warn("forward_acts is deprecated; use model.run_with_cache(images, layers, detach=False)",
                  DeprecationWarning, stacklevel=2)
    return _acts(model, images, layers)


def _acts(model: HookedModel, images: torch.Tensor, layers: frozenset) -> ActivationCache:
    """Activations of ``layers`` with the graph kept; stops early unless the logits are needed."""
    return model.run_with_cache(images, sorted(layers), detach=False)


def per_image_values(objectives: Sequence[Objective], acts: Mapping) -> torch.Tensor:
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
    deepest = max((info[layer].order for layer in layers if not is_logits(layer)), default=-1)
    if any(is_logits(layer) for layer in layers):
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
def optimise(model: HookedModel, n: int, value_fn: Callable[[Mapping], torch.Tensor], layers: frozenset,
             config: RenderConfig, *, size: int, seeds: Sequence[int], transforms, bar: Optional[tqdm],
             history: Optional[list] = None, redirect: int = 0):
    """Optimise ``n`` images so ``value_fn(acts)`` (per image, shape (n,)) goes up.

    ``config`` gives steps, parameterisation, lr and ``eval_every``; ``size`` and
    ``transforms`` are already resolved; ``seeds`` (one per image, :func:`featvis.seeding.image_seed`)
    seed each image's initial values and its own transform draws. The first ``redirect`` steps
    use redirected ReLU gradients, the rest true gradients. Returns (images on the model's
    device, final per-image values on untransformed images, always the true objective).
    """
    if len(seeds) != n:
        raise InputError(f"need one seed per image: {len(seeds)} seeds for {n} images")
    from visioncircuits.featvis.fast_loop import optimise_fast, uses_speed_options

    loop = optimise_fast if uses_speed_options(config) else _optimise
    with numeric_mode(config.exact), redirect_relus(model, enabled=redirect > 0) as rr:
        return loop(model, n, value_fn, layers, config, size, list(seeds), transforms, bar, history, redirect, rr)


def _optimise(model, n, value_fn, layers, cfg: RenderConfig, size, seeds, transforms, bar, history, redirect, rr):
    device = model.device
    p = make_param(cfg.param, n, size, seeds=seeds, device=device, **cfg.param_kwargs)
    params = [t for t in p.parameters() if t.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr or p.default_lr)
    gen = ImageRNG(seeds)
    elapsed = 0.0
    steps, eval_every = cfg.steps, cfg.eval_every
    for step in range(1, steps + 1):
        t0 = time.perf_counter()
        rr.active = step <= redirect
        images = transforms(p(), gen)
        acts = _acts(model, images, layers)
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
                history.append((step, elapsed, value_fn(_acts(model, p(), layers)).tolist()))
    rr.active = False
    with torch.no_grad():
        final = p().detach()
        values = value_fn(_acts(model, final, layers))
    return final, values.detach()


def render(model: HookedModel, units: Union[Target, Sequence[Target]], config: Optional[RenderConfig] = None,
           *, keys: Optional[Sequence[str]] = None, **kwargs) -> RenderResult:
    """Render one image per unit/objective; units are ``"layer:ch"`` strings, ``Unit``s or objectives.

    Settings come from ``config`` (a :class:`RenderConfig`); keyword arguments named like its
    fields (``steps=``, ``size=``, ``seed=`` ...) override it. Each image is seeded from
    (model name, its key, seed): ``keys`` default to the objectives' names, so a unit's
    random numbers are the same alone or in any batch (:mod:`featvis.seeding`); give distinct
    keys to render one objective twice from different starts. ``values`` are always the true
    objective on the final image.
    ``transforms="stride_aware"`` tunes jitter to the deepest target layer's total stride
    (against checkerboards; :mod:`featvis.stride_aware`).

    Examples:
        >>> model = load_model("cifar10-resnet20")                                  # doctest: +SKIP
        >>> res = render(model, ["layer3.2:5", "logit:3"], RenderConfig(steps=128))  # doctest: +SKIP
        >>> res.images.shape, res.values                                             # doctest: +SKIP
        (torch.Size([2, 3, 32, 32]), [4.1, 17.3])
        >>> res.pil(0).save("unit.png")                                              # doctest: +SKIP
    """
    cfg = RenderConfig.resolve(config, **kwargs)
    if isinstance(units, (str, Unit, Objective)):
        units = [units]
    objectives = [as_objective(model, u) for u in units]
    if not objectives:
        raise InputError("nothing to render: give at least one unit")
    keys = [o.name for o in objectives] if keys is None else [str(k) for k in keys]
    if len(keys) != len(objectives):
        raise InputError(f"need one key per objective: {len(keys)} keys for {len(objectives)} objectives")
    seeds = image_seeds(model.spec.name, keys, cfg.seed)
    size = int(cfg.size or model.spec.input_size)
    n_redirect = redirect_steps(cfg.redirect_relu, cfg.steps)
    layers = needed_layers(objectives)
    tf = resolve_model_transforms(model, cfg.transforms, layers, size)  # "stride_aware" needs the layers
    # exact: every image alone, so its sums never depend on its neighbours (device.exact_mode)
    bs = 1 if cfg.exact else int(cfg.batch_size or auto_batch_size(model, layers, size, cfg.memory_budget_mb))
    t0 = time.perf_counter()
    images, values, history = [], [], []
    n_chunks = -(-len(objectives) // bs)
    steps = cfg.steps
    with tqdm(
        total=steps * n_chunks, desc=f"render {len(objectives)} units", unit="step", disable=not cfg.progress
    ) as bar:
        for start in range(0, len(objectives), bs):
            chunk = objectives[start:start + bs]
            chunk_layers = needed_layers(chunk)
            imgs, vals = optimise(
                model, len(chunk), lambda acts, c=chunk: per_image_values(c, acts), chunk_layers, cfg,
                size=size, seeds=seeds[start:start + bs], transforms=tf, bar=bar,
                history=history if cfg.eval_every else None, redirect=n_redirect)
            images.append(imgs.cpu())
            values.extend(float(v) for v in vals.cpu())
    seconds = time.perf_counter() - t0
    log.info("rendered %d units x %d steps at %d px in %.1f s", len(objectives), steps, size, seconds)
    return RenderResult(
        torch.cat(images),
        values,
        [o.name for o in objectives],
        size,
        steps,
        cfg.param,
        cfg.seed,
        seconds,
        history,
        n_redirect,
    )


def render_batch(model: HookedModel, objective: Target, n: int, config: Optional[RenderConfig] = None,
                 *, key: Optional[str] = None, **kwargs) -> RenderResult:
    """Render ``n`` images that share one batch-level objective (e.g. a unit plus diversity).

    Same settings as :func:`render` (``batch_size``/``memory_budget_mb`` do not apply: the
    ``n`` images are one batch). ``values[i]`` is the objective's per-image term for image ``i``.
    Image ``i`` is seeded from ``f"{key}|batch-{i}"`` (``key`` defaults to the objective's name).
    """
    cfg = RenderConfig.resolve(config, **kwargs)
    obj = as_objective(model, objective)
    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    base = obj.name if key is None else str(key)
    seeds = image_seeds(model.spec.name, [f"{base}|batch-{i}" for i in range(n)], cfg.seed)
    size = int(cfg.size or model.spec.input_size)
    n_redirect = redirect_steps(cfg.redirect_relu, cfg.steps)
    t0 = time.perf_counter()
    with tqdm(total=cfg.steps, desc=f"render {obj.name} x{n}", unit="step", disable=not cfg.progress) as bar:
        imgs, vals = optimise(model, n, obj, obj.layers, cfg.replace(eval_every=0), size=size, seeds=seeds,
                              transforms=resolve_model_transforms(model, cfg.transforms, obj.layers, size), bar=bar,
                              redirect=n_redirect)
    return RenderResult(
        imgs.cpu(),
        [float(v) for v in vals.cpu()],
        [obj.name] * n,
        size,
        cfg.steps,
        cfg.param,
        cfg.seed,
        time.perf_counter() - t0,
        redirect_steps=n_redirect,
    )


def render_diverse(model: HookedModel, unit: Target, n: int = 4, *, weight: float = 1.0, layer: Optional[str] = None,
                   config: Optional[RenderConfig] = None, key: Optional[str] = None, **kwargs) -> RenderResult:
    """``n`` different images of one unit: the unit objective plus ``weight`` times diversity.

    Diversity is measured at the unit's own layer unless ``layer`` is given. ``values`` are
    the unit's own activation on each image (not including the diversity term). Settings as
    for :func:`render_batch`; image ``d`` is seeded from ``f"{key}|diverse|batch-{d}"`` (``key``
    defaults to the unit's objective name).
    """
    obj = as_objective(model, unit)
    div_layer = layer or next((l for l in sorted(obj.layers) if not is_logits(l)), None)
    if div_layer is None:
        raise InputError("give layer= for the diversity term of a class-logit objective")
    from visioncircuits.featvis.objectives import diversity

    base = obj.name if key is None else str(key)
    result = render_batch(model, obj + weight * diversity(div_layer), n, config, key=f"{base}|diverse", **kwargs)
    with torch.no_grad():
        imgs = result.images.to(model.device)
        result.values = [float(v) for v in obj(_acts(model, imgs, obj.layers)).cpu()]
    result.names = [obj.name] * n
    return result
