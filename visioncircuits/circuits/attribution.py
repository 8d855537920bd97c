"""Attribution between features (data-dependent): how much each unit of a lower layer
contributed to a target unit on real images.

One class per method, each with the same ``.attribute(inputs, layers, ...)``: activation x
gradient (several lower layers from one forward and one backward pass), and captum's
``LayerIntegratedGradients`` and ``LayerConductance``, with the
target unit as captum's forward function. The target is any unit address: a channel
(spatial mean, or one position), a class logit or an SAE latent. Scores are summed over
positions (one number per lower channel) and averaged over the images, which may be a
tensor batch or an image folder streamed in batches.

With ``layers=["sae:DIR"]`` activation x gradient scores the SAE's latents instead of the
channels of its layer: the SAE is spliced in with its reconstruction error added back, so
the model's output is unchanged and the gradient reaches every latent.
"""
from __future__ import annotations

import logging
import os
from typing import Callable, Iterator, Optional, Sequence, Union

import torch
from tqdm.auto import tqdm

from visioncircuits.data import ImageFolder
from visioncircuits.errors import InputError
from visioncircuits.hooks import check_images
from visioncircuits.keys import SAELayer, is_sae_layer
from visioncircuits.unit_activations import resolve_unit, unit_value
from visioncircuits.units import Unit

log = logging.getLogger(__name__)

Inputs = Union[torch.Tensor, str, os.PathLike]
Scores = dict[str, torch.Tensor]


def target_function(model, target: Union[str, Unit]) -> Callable[[torch.Tensor], torch.Tensor]:
    """images (N, 3, H, W) -> (N,) value of ``target``, differentiable (captum's forward_func).

    Channel and SAE targets stop the forward pass right after their layer.
    """
    unit = resolve_unit(model, target)
    if unit.kind == "logit":
        return lambda x: model(x)[:, unit.index]
    return lambda x: unit_value(unit, model.run_with_cache(x, [unit.layer], detach=False)[unit.layer])


def iter_batches(model, inputs: Inputs, batch_size: int, limit: Optional[int] = None) -> Iterator[torch.Tensor]:
    """A tensor (N, 3, H, W) in [0, 1] or an image folder, as batches on the model's device."""
    if isinstance(inputs, torch.Tensor):
        if inputs.dim() == 3:
            inputs = inputs[None]
        check_images(inputs)
        if limit is not None:
            inputs = inputs[:limit]
        for s in range(0, inputs.shape[0], batch_size):
            yield inputs[s:s + batch_size].to(model.device)
        return
    folder = ImageFolder(inputs, model.spec.input_size, limit=limit)
    for _paths, imgs in folder.batches(batch_size):
        yield imgs.to(model.device)
    if folder.stats.skipped:
        log.warning("skipped %d unreadable images in %s", len(folder.stats.skipped), inputs)


class LayerAttribution:
    """Base: target bookkeeping and the loop over batches; subclasses score one batch."""

    name = "base"

    def __init__(self, model, target: Union[str, Unit]):
        self.model = model
        self.target = resolve_unit(model, target)
        self.forward_func = target_function(model, self.target)

    def _check_layers(self, layers: Union[str, Sequence[str]]) -> list[str]:
        layers = [layers] if isinstance(layers, str) else list(layers)
        if not layers:
            raise InputError("give at least one lower layer to attribute to")
        info = self.model.layer_info()
        tgt = self.target.layer
        for layer in layers:
            if is_sae_layer(layer):
                continue
            self.model.resolve_layer(layer)
            if tgt is not None and info[layer].order >= info[tgt].order:
                raise InputError(f"lower layer '{layer}' must run before the target's layer '{tgt}'")
        return layers

    def attribute(self, inputs: Inputs, layers: Union[str, Sequence[str]], *, batch_size: int = 16,
                  limit: Optional[int] = None, reduce: str = "mean", progress: bool = False) -> Scores:
        """Score per lower unit for each layer: ``{layer: (C,)}`` averaged over images
        (``reduce="none"``: ``{layer: (N, C)}``)."""
        if reduce not in ("mean", "none"):
            raise InputError(f"reduce must be 'mean' or 'none', got {reduce!r}")
        layers = self._check_layers(layers)
        parts: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
        for batch in tqdm(iter_batches(self.model, inputs, batch_size, limit), desc=f"{self.name} {self.target}",
                          unit="batch", disable=not progress, leave=False):
            for layer, s in self._batch(batch, layers).items():
                parts[layer].append(s.detach())
        if not parts[layers[0]]:
            raise InputError("no images to attribute over")
        out = {layer: torch.cat(p) for layer, p in parts.items()}
        return {k: v.mean(0) for k, v in out.items()} if reduce == "mean" else out

    def _batch(self, images: torch.Tensor, layers: list[str]) -> Scores:
        raise NotImplementedError


class ActivationGradient(LayerAttribution):
    """Activation x gradient, every requested layer from one forward and one backward pass."""

    name = "activation_x_gradient"

    def _batch(self, images: torch.Tensor, layers: list[str]) -> Scores:
        acts: dict[str, torch.Tensor] = {}
        codes: dict[str, torch.Tensor] = {}

        def grab(out, layer):
            acts[layer] = out
            return None

        def splice(sae_layer: SAELayer):
            sae = sae_layer.load(images.device)

            def hook(out, _layer):
                from visioncircuits.sae.models import flatten_positions, unflatten_positions

                flat = flatten_positions(out)
                z = sae.encode(flat).detach().requires_grad_(True)
                recon = sae.decode(z)
                codes[str(sae_layer)] = z
                return unflatten_positions(recon, out.shape) + (out - unflatten_positions(recon, out.shape)).detach()

            return hook

        hooks = []
        for layer in layers:
            if is_sae_layer(layer):
                sae_layer = SAELayer.parse(layer)
                hooks.append((sae_layer.layer, splice(sae_layer)))
            else:
                hooks.append((layer, grab))
        with torch.enable_grad(), self.model.hooks(hooks):
            value = self.forward_func(images)
        leaves = [acts[k] if k in acts else codes[k] for k in layers]
        grads = torch.autograd.grad(value.sum(), leaves, allow_unused=True)
        out = {}
        n = images.shape[0]
        for layer, a, g in zip(layers, leaves, grads):
            g = torch.zeros_like(a) if g is None else g
            s = a * g
            out[layer] = s.view(n, -1, s.shape[-1]).sum(1) if is_sae_layer(layer) else _per_channel(s)
        return out


class IntegratedGradients(LayerAttribution):
    """captum's LayerIntegratedGradients from a black image, one captum call per layer
    (captum can patch several layers at once only when none depends on another, which is
    never true of a chain of main layers)."""

    name = "integrated_gradients"

    def __init__(self, model, target, n_steps: int = 16, baseline: float = 0.0):
        super().__init__(model, target)
        self.n_steps, self.baseline = int(n_steps), float(baseline)

    def _batch(self, images: torch.Tensor, layers: list[str]) -> Scores:
        from captum.attr import LayerIntegratedGradients

        if any(is_sae_layer(layer) for layer in layers):
            raise InputError("SAE latents are attributed with method 'activation_x_gradient'")
        out = {}
        for layer in layers:
            lig = LayerIntegratedGradients(self.forward_func, self.model.get_module(layer))
            with torch.enable_grad():
                a = lig.attribute(images, baselines=torch.full_like(images, self.baseline), n_steps=self.n_steps)
            out[layer] = _per_channel(a)  # pyright: ignore[reportArgumentType]  (captum returns one tensor here)
        return out


class Conductance(LayerAttribution):
    """captum's LayerConductance from a black image (one layer per pass, captum's limit)."""

    name = "conductance"

    def __init__(self, model, target, n_steps: int = 16, baseline: float = 0.0):
        super().__init__(model, target)
        self.n_steps, self.baseline = int(n_steps), float(baseline)

    def _batch(self, images: torch.Tensor, layers: list[str]) -> Scores:
        from captum.attr import LayerConductance

        out = {}
        for layer in layers:
            if is_sae_layer(layer):
                raise InputError("SAE latents are attributed with method 'activation_x_gradient'")
            lc = LayerConductance(self.forward_func, self.model.get_module(layer))
            with torch.enable_grad():
                a = lc.attribute(images, baselines=torch.full_like(images, self.baseline), n_steps=self.n_steps,
                                     method="riemann_trapezoid")
            out[layer] = _per_channel(a)  # pyright: ignore[reportArgumentType]  (captum returns one tensor here)
        return out


METHODS = {c.name: c for c in (ActivationGradient, IntegratedGradients, Conductance)}
ALIASES = {"axg": "activation_x_gradient", "grad_x_act": "activation_x_gradient", "ig": "integrated_gradients"}


def get_method(name: str) -> type:
    from visioncircuits.errors import unknown

    name = ALIASES.get(name, name)
    if name not in METHODS:
        raise unknown("attribution method", name, list(METHODS) + list(ALIASES))
    return METHODS[name]


def _per_channel(a: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) or (N, C) -> (N, C): summed over positions."""
    return a.sum(dim=(2, 3)) if a.dim() == 4 else a
