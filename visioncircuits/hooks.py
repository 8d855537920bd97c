"""Hooked forward passes for any ``nn.Module``: scoped hooks and early-exit activation caches.

The TransformerLens feel for CNNs: ``model.run_with_cache(images, ["layer3"])`` returns the
activations and computes nothing after the deepest requested layer, and every hook this
module registers is removed in ``finally`` whatever happens.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional, Sequence, Union

import torch
from torch import nn

from visioncircuits.errors import InputError, unknown

log = logging.getLogger(__name__)

HookFn = Callable[[torch.Tensor, str], Optional[torch.Tensor]]
Layers = Union[str, Sequence[str], None]


class _StopForward(Exception):
    """Raised inside a hook to abandon the rest of the forward pass."""


@dataclass(frozen=True)
class LayerInfo:
    """A hookable layer: its name, the order it runs in and its output shape (C, H, W)."""

    name: str
    order: int
    shape: tuple
    module_type: str

    @property
    def channels(self) -> int:
        return int(self.shape[0]) if self.shape else 0


def check_images(images: torch.Tensor, tol: float = 1e-3) -> None:
    """Every model takes RGB in [0, 1], shape (N, 3, H, W); anything else is a clear error."""
    if not isinstance(images, torch.Tensor):
        raise InputError(f"images must be a torch.Tensor of shape (N, 3, H, W), got {type(images).__name__}")
    if images.dim() != 4 or images.shape[1] != 3:
        raise InputError(f"images must have shape (N, 3, H, W) with RGB channels, got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise InputError(f"images must be floating point in [0, 1], got dtype {images.dtype}")
    if images.numel():
        if torch.isnan(images.detach()).any():
            raise InputError("images contain NaN values; expected RGB in [0, 1]")
        lo, hi = torch.aminmax(images.detach())
        if lo.item() < -tol or hi.item() > 1 + tol:
            raise InputError(
                f"images must be in [0, 1] (the model applies its own normalisation), "
                f"got values in [{lo.item():.3g}, {hi.item():.3g}]"
            )


class HookedModel(nn.Module):
    """A network plus its preprocessing, with named hook points on every module.

    ``forward`` takes RGB in [0, 1]; ``spec.preprocess`` normalises inside. Layer names are
    the dotted module paths of ``net`` (for InceptionV1 these are the Lucid names).
    Modules called more than once per forward (a shared ReLU) are not hookable layers,
    because "its activation" would be ambiguous.
    """

    def __init__(self, net: nn.Module, spec, preprocess: nn.Module):
        super().__init__()
        self.net = net
        self.preprocess = preprocess
        self.spec = spec
        self.check_input = True
        self._trace_cache: dict[tuple, dict[str, LayerInfo]] = {}

    # ------------------------------------------------------------------ basics
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.check_input:
            self._check_input(images)
        return self.net(self.preprocess(images))

    def _check_input(self, images: torch.Tensor) -> None:
        check_images(images)
        dev = self.device
        if images.device != dev and any(True for _ in self.parameters()):
            raise InputError(f"images are on {images.device} but {self.spec.name} is on {dev}; use images.to(model.device)")

    def _modules_by_name(self) -> dict[str, nn.Module]:
        return {n: m for n, m in self.net.named_modules() if n}

    def get_module(self, layer: str) -> nn.Module:
        mods = self._modules_by_name()
        if layer not in mods:
            raise unknown(f"layer of {self.spec.name}", layer, self.layer_names())
        return mods[layer]

    # ------------------------------------------------------------------ layers
    def layer_info(self, size: Optional[int] = None) -> dict[str, LayerInfo]:
        """Hookable layers in execution order with output shapes, for a square input of ``size``."""
        size = int(size or self.spec.input_size)
        key = (size,)
        if key not in self._trace_cache:
            self._trace_cache[key] = self._trace(size)
        return self._trace_cache[key]

    def layer_names(self, size: Optional[int] = None) -> list[str]:
        return list(self.layer_info(size))

    def channels(self, layer: str) -> int:
        return self.resolve_layer(layer).channels

    def resolve_layer(self, layer: str, size: Optional[int] = None) -> LayerInfo:
        info = self.layer_info(size)
        if layer not in info:
            raise unknown(f"layer of {self.spec.name}", layer, list(info))
        return info[layer]

    def check_unit(self, layer: str, index: int) -> None:
        """Raise a clear error if ``index`` is not a channel of ``layer``."""
        n = self.channels(layer)
        if not 0 <= index < n:
            raise InputError(f"channel {index} out of range: layer '{layer}' of {self.spec.name} has {n} channels (0..{n - 1})")

    def _trace(self, size: int) -> dict[str, LayerInfo]:
        mods = self._modules_by_name()
        calls: dict[str, int] = {}
        order: list[str] = []
        shapes: dict[str, tuple] = {}
        handles = []

        def make(name: str):
            def hook(_m, _inp, out):
                calls[name] = calls.get(name, 0) + 1
                if calls[name] == 1:
                    order.append(name)
                    if isinstance(out, torch.Tensor):
                        shapes[name] = tuple(out.shape[1:])

            return hook

        try:
            for n, m in mods.items():
                handles.append(m.register_forward_hook(make(n)))
            dtype = next((p.dtype for p in self.parameters() if p.is_floating_point()), torch.float32)
            x = torch.zeros(1, 3, size, size, device=self.device, dtype=dtype)
            was_training = self.training
            self.eval()
            try:
                with torch.no_grad():
                    self.net(self.preprocess(x))
            except RuntimeError as e:  # e.g. "Kernel size can't be greater than actual input size"
                first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
                raise InputError(f"{self.spec.name} cannot run on a {size}x{size} input ({first}); try a larger size") from None
            finally:
                self.train(was_training)
        finally:
            for h in handles:
                h.remove()
        info = {}
        for i, n in enumerate(o for o in order if calls[o] == 1 and o in shapes):
            info[n] = LayerInfo(n, i, shapes[n], type(mods[n]).__name__)
        return info

    # ------------------------------------------------------------------ hooks
    @contextlib.contextmanager
    def hooks(self, fwd_hooks: Iterable[tuple[str, HookFn]] = ()) -> Iterator["HookedModel"]:
        """Scoped forward hooks: ``fn(output, layer)`` may return a replacement output.

        The hooks are removed when the block exits, also on exceptions.
        """
        handles = []
        try:
            for layer, fn in fwd_hooks:
                module = self.get_module(layer)

                def hook(_m, _inp, out, _fn=fn, _layer=layer):
                    return _fn(out, _layer)

                handles.append(module.register_forward_hook(hook))
            yield self
        finally:
            for h in handles:
                h.remove()

    def run_with_hooks(self, images: torch.Tensor, fwd_hooks: Iterable[tuple[str, HookFn]] = ()) -> torch.Tensor:
        with self.hooks(fwd_hooks):
            return self(images)

    def run_with_cache(
        self,
        images: torch.Tensor,
        layers: Layers = None,
        *,
        detach: bool = True,
        names_filter: Optional[Callable[[str], bool]] = None,
        stop_early: bool = True,
        fwd_hooks: Iterable[tuple[str, HookFn]] = (),
    ) -> dict[str, torch.Tensor]:
        """Activations of ``layers`` (a name, a list, or all with ``names_filter``) for ``images``.

        The forward pass stops right after the last requested layer has run, so nothing
        deeper is computed. With ``detach=False`` the activations keep their graph, for
        optimisation and attribution. Extra ``fwd_hooks`` (e.g. an SAE splice) run too.
        Returns ``{layer: tensor}`` in the order the layers ran; the logits are not returned
        (use ``layers=["output"]`` semantics via ``model(images)`` for that).
        """
        if isinstance(layers, str):
            layers = [layers]
        if self.check_input:
            self._check_input(images)
        known = self._any_layer_info(images)
        if layers is None:
            names = [n for n in known if names_filter is None or names_filter(n)]
        else:
            names = list(dict.fromkeys(layers))
            for n in names:
                if n not in known:
                    raise unknown(f"layer of {self.spec.name}", n, list(known))
        if not names:
            return {}
        want = set(names)
        cache: dict[str, torch.Tensor] = {}

        def grab(out, layer):
            if layer in want and layer not in cache and isinstance(out, torch.Tensor):
                cache[layer] = out.detach() if detach else out
                if stop_early and len(cache) == len(want):
                    raise _StopForward
            return None

        ctx = torch.no_grad() if detach else contextlib.nullcontext()
        try:
            with ctx, self.hooks(list(fwd_hooks) + [(n, grab) for n in names]):
                self.net(self.preprocess(images))
        except _StopForward:
            pass
        return {n: cache[n] for n in sorted(cache, key=lambda n: known[n].order)}

    def _any_layer_info(self, images: torch.Tensor) -> dict[str, LayerInfo]:
        """Layer names and run order, which do not depend on the input size: reuse any trace
        already made, else trace at the images' own size (cheaper than the default for small
        inputs, and guaranteed to run if the real pass can)."""
        if self._trace_cache:
            return next(iter(self._trace_cache.values()))
        h, w = images.shape[-2:]
        return self.layer_info(int(h) if h == w else None)

    def hook_count(self) -> int:
        """Number of forward hooks currently registered anywhere in the model (leak checks)."""
        return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in self.modules())
