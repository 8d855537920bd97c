"""Activation patching: run a clean input, copy chosen units' activations from a corrupted input.

The effect of patching unit ``u`` is ``metric(clean run with u taken from the corrupted
image) - metric(clean run)``, averaged over the image pairs: the causal share of ``u`` in
the difference between the two inputs. Many units are measured in one forward pass by
stacking copies of the clean batch and patching a different unit in each copy. SAE latents
are patched through their SAE with the error term kept.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Callable, Union

import torch
from tqdm.auto import tqdm

from visioncircuits.errors import InputError
from visioncircuits.interventions.ablation import ablate
from visioncircuits.interventions.edits import Edit, edit_hooks
from visioncircuits.interventions.targets import UnitLike, Units, expand_targets, group_by_key, layer_key

if TYPE_CHECKING:
    from visioncircuits.hooks import HookedModel

Metric = Callable[[torch.Tensor], torch.Tensor]
"""logits (N, K) -> one value per image (N,); e.g. :func:`logit_metric`, :func:`logit_diff_metric`."""


def logit_metric(classes: Union[int, torch.Tensor]) -> Metric:
    """The logit of ``classes`` (one class, or one per image)."""

    def metric(logits: torch.Tensor) -> torch.Tensor:
        idx = torch.as_tensor(classes, device=logits.device).long().flatten()
        if idx.numel() not in (1, logits.shape[0]):
            raise InputError(f"logit_metric has {idx.numel()} classes for a batch of {logits.shape[0]} images")
        idx = idx.expand(logits.shape[0])
        return logits.gather(1, idx[:, None])[:, 0]

    return metric


def logit_diff_metric(good: Union[int, torch.Tensor], bad: Union[int, torch.Tensor]) -> Metric:
    """``logit[good] - logit[bad]`` per image (each a class or one per image)."""
    a, b = logit_metric(good), logit_metric(bad)
    return lambda logits: a(logits) - b(logits)


def metric_values(metric: Metric, logits: torch.Tensor) -> torch.Tensor:
    """``metric(logits)`` checked to give one value per image."""
    v = metric(logits)
    if not isinstance(v, torch.Tensor) or v.shape != (logits.shape[0],):
        shape = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
        raise InputError(f"the metric must return one value per image, shape ({logits.shape[0]},), got {shape}")
    return v


def check_pair(clean: torch.Tensor, corrupted: torch.Tensor) -> None:
    if not isinstance(clean, torch.Tensor) or not isinstance(corrupted, torch.Tensor):
        raise InputError("clean and corrupted must be image tensors (N, 3, H, W)")
    if clean.shape != corrupted.shape:
        raise InputError(f"clean and corrupted images must pair up one to one: shapes {tuple(clean.shape)} "
                         f"and {tuple(corrupted.shape)} differ")


@contextlib.contextmanager
def patch(model: HookedModel, units: Union[Units, UnitLike], source_images: torch.Tensor) -> Iterator[None]:
    """Inside the block, ``units`` take their activations from ``source_images`` (one per input image).

    The same as ``ablate(model, units, "resample", source=source_images)``.
    """
    with ablate(model, units, "resample", source=source_images):
        yield


def activation_patching(model: HookedModel, clean: torch.Tensor, corrupted: torch.Tensor,
                        units: Union[Units, UnitLike], metric: Metric, *, max_batch: int = 256,
                        progress: bool = False) -> dict[str, float]:
    """Effect on ``metric`` of patching each unit, alone, from ``corrupted`` into ``clean``.

    ``units``: units or addresses, layer names (all their channels) or ``"sae:DIR"`` (all
    latents). Returns ``{address: mean over pairs of metric(patched) - metric(clean)}`` in the
    order given. ``max_batch`` bounds the images per forward pass (copies of ``clean``).

    Examples:
        >>> effects = activation_patching(model, clean, corrupted, ["relu2"], logit_metric(3))  # doctest: +SKIP
        >>> max(effects, key=lambda u: abs(effects[u]))                                          # doctest: +SKIP
        'relu2:4'
    """
    check_pair(clean, corrupted)
    targets = expand_targets(model, units)
    n = clean.shape[0]
    if n == 0:
        raise InputError("activation patching needs at least one image pair")
    clean, corrupted = clean.to(model.device), corrupted.to(model.device)
    keys = list(group_by_key(targets))
    cache = model.run_with_cache(corrupted, keys)
    source = {k: (cache[k][:, :, None, None] if cache[k].dim() == 2 else cache[k]) for k in keys}
    with torch.no_grad():
        base = metric_values(metric, model(clean))
    per_pass = max(1, int(max_batch) // n)
    effects: dict[str, float] = {}
    chunks = [targets[i:i + per_pass] for i in range(0, len(targets), per_pass)]
    for chunk in tqdm(chunks, desc="patching", disable=not progress):
        edits: dict[str, list[Edit]] = {}
        for j, u in enumerate(chunk):
            src = source[layer_key(u)][:, u.index]
            edits.setdefault(layer_key(u), []).append(Edit(u, lambda _a, s=src: s, rows=slice(j * n, (j + 1) * n)))
        with torch.no_grad(), model.hooks(edit_hooks(model, edits)):
            logits = model(clean.repeat(len(chunk), 1, 1, 1))
        # the metric sees one copy of the batch at a time, so per-image targets line up
        out = torch.stack([metric_values(metric, logits[j * n:(j + 1) * n]) for j in range(len(chunk))])
        diffs = (out - base).mean(1)
        for u, d in zip(chunk, diffs.tolist()):
            effects[str(u)] = d
    return effects
