"""Hooked forward passes for any ``nn.Module``: scoped hooks and early-exit activation caches.

The TransformerLens feel for CNNs: ``model.run_with_cache(images, ["layer3"])`` returns the
activations and computes nothing after the deepest requested layer, and every hook this
module registers is removed in ``finally`` whatever happens.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Optional, Sequence, Union

import torch
from torch import nn

from visioncircuits.cache import ActivationCache
from visioncircuits.errors import InputError, unknown
from visioncircuits.keys import SAELayer, is_logits, is_sae_layer
from visioncircuits.units import Unit
from visioncircuits.utils import first_line

if TYPE_CHECKING:
    from visioncircuits.sae.models import SparseAutoencoder

log = logging.getLogger(__name__)

HookFn = Callable[[torch.Tensor, str], Optional[torch.Tensor]]
Key = Union[str, Unit, SAELayer]
Keys = Union[Key, Sequence[Key], None]
Layers = Keys  # the old name


def _sae_splice(sae: SparseAutoencoder, key: str, cache: dict, keep: Callable, after: Callable[[], None]) -> HookFn:
    """A hook that runs ``sae`` on a layer's output, caches its latents as ``key`` and returns
    ``reconstruction + error``: numerically the original output, with gradients through the SAE."""
    from visioncircuits.sae.models import flatten_positions, unflatten_positions

    def hook(out, _layer):
        z = unflatten_positions(sae.encode(flatten_positions(out).to(sae.W_enc.dtype)), out.shape)
        # decode from z itself, so gradients reach the cached latents
        recon = unflatten_positions(sae.decode(flatten_positions(z)), out.shape).to(out.dtype)
        if key not in cache:
            cache[key] = keep(z)
        result = recon + (out - recon).detach()
        after()
        return result

    return hook


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

    weights_source: Optional[str] = None  # the weights file load_model read ("random"/None otherwise): fingerprints

    def __init__(self, net: nn.Module, spec, preprocess: nn.Module):
        super().__init__()
        self.net = net
        self.preprocess = preprocess
        self.spec = spec
        self.check_input = True
        self._trace_cache: dict[tuple, dict[str, LayerInfo]] = {}

    @classmethod
    def wrap(
        cls,
        net: nn.Module,
        *,
        mean: Sequence[float] = (0.0, 0.0, 0.0),
        std: Sequence[float] = (1.0, 1.0, 1.0),
        input_size: int = 224,
        name: Optional[str] = None,
        num_classes: Optional[int] = None,
        main_layers: Sequence[str] = (),
        class_names: Optional[Sequence[str]] = None,
        scale: float = 1.0,
    ) -> HookedModel:
        """Hook any ``nn.Module`` that takes normalised RGB: your own network, a timm model.

        ``mean``/``std`` (and ``scale``) are the normalisation the network expects of [0, 1]
        RGB (``(x * scale - mean) / std``); ``num_classes`` defaults to the output width
        of a forward pass at ``input_size``. The result is in eval mode, on ``net``'s device.

        Examples:
            >>> net = torchvision.models.resnet18(num_classes=10)                  # doctest: +SKIP
            >>> model = HookedModel.wrap(net, mean=IMAGENET_MEAN, std=IMAGENET_STD,
            ...                          input_size=64, name="my-resnet")           # doctest: +SKIP
            >>> model.run_with_cache(torch.rand(2, 3, 64, 64), "layer4").output    # doctest: +SKIP
        """
        from visioncircuits.zoo.spec import ModelSpec

        if not isinstance(net, nn.Module):
            raise InputError(f"HookedModel.wrap needs an nn.Module, got {type(net).__name__}")
        if len(mean) != 3 or len(std) != 3 or any(float(s) == 0 for s in std):
            raise InputError(f"mean and std must have 3 values (RGB) and std no zeros, got mean={mean}, std={std}")
        if int(input_size) < 1:
            raise InputError(f"input_size must be >= 1, got {input_size}")
        spec = ModelSpec(
            name=name or type(net).__name__,
            family="wrapped",
            description=f"user module {type(net).__name__}",
            build=type(net),
            input_size=int(input_size),
            mean=tuple(mean),
            std=tuple(std),
            scale=scale,
            num_classes=int(num_classes or 0),
            main_layers=tuple(main_layers),
            class_names=class_names,
        )
        model = cls(net, spec, spec.preprocess())
        dev = next((t.device for t in list(net.parameters()) + list(net.buffers())), None)
        if dev is not None:
            model.preprocess.to(dev)
        model.eval()
        if num_classes is None:
            spec.num_classes = model._output_width()
        for layer in main_layers:
            model.resolve_layer(layer)
        return model

    def _output_width(self) -> int:
        """Width of the output of one forward pass at the spec's input size (0 if not (N, K))."""
        size = int(self.spec.input_size)
        dtype = next((p.dtype for p in self.parameters() if p.is_floating_point()), torch.float32)
        with torch.no_grad():
            try:
                out = self.net(self.preprocess(torch.zeros(1, 3, size, size, device=self.device, dtype=dtype)))
            except RuntimeError as e:
                raise InputError(
                    f"{self.spec.name} cannot run on a {size}x{size} input ({first_line(e, 160)})"
                ) from None
        return int(out.shape[1]) if isinstance(out, torch.Tensor) and out.dim() == 2 else 0

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
            raise InputError(
                f"images are on {images.device} but {self.spec.name} is on {dev}; use images.to(model.device)"
            )

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
            raise InputError(
                f"channel {index} out of range: layer '{layer}' of {self.spec.name} has {n} channels (0..{n - 1})"
            )

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
                first = first_line(e, 160)
                raise InputError(
                    f"{self.spec.name} cannot run on a {size}x{size} input ({first}); try a larger size"
                ) from None
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
    def hooks(self, fwd_hooks: Iterable[tuple[str, HookFn]] = ()) -> Iterator[HookedModel]:
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
        keys: Keys = None,
        *,
        return_output: bool = False,
        detach: bool = True,
        names_filter: Optional[Callable[[str], bool]] = None,
        stop_early: bool = True,
        fwd_hooks: Iterable[tuple[str, HookFn]] = (),
        layers: Keys = None,
    ) -> ActivationCache:
        """Activations for ``images`` of ``keys``: layer names, ``Unit``s, SAE layers, ``LOGITS``.

        Returns an :class:`~visioncircuits.cache.ActivationCache`, a mapping ``{layer: tensor}``
        in the order the layers ran (``LOGITS`` last when requested), with ``.output``.
        ``keys=None`` caches every layer (filtered by ``names_filter``). A ``Unit`` caches the
        layer it reads (index the cache by the unit for its map). An SAE layer (``"sae:DIR"``
        or :class:`~visioncircuits.keys.SAELayer`) splices the SAE into the forward pass with
        its error term kept, SAELens-style: the layer's output becomes
        ``decode(encode(x)) + (x - decode(encode(x)))``, so everything downstream is unchanged
        while the latents (N, d_sae, H, W) are cached and carry gradients.

        The pass stops right after the deepest requested layer unless the output is needed
        (``return_output=True`` or ``LOGITS`` requested) or ``stop_early=False``. With
        ``detach=False`` the tensors keep their graph (optimisation, attribution). Extra
        ``fwd_hooks`` run before the caching hooks. ``layers=`` is the old name of ``keys``.

        Examples:
            >>> model = load_model("cifar10-resnet20", weights="random")          # doctest: +SKIP
            >>> cache = model.run_with_cache(images, ["layer1", "layer2"])       # doctest: +SKIP
            >>> cache["layer2"].shape                                            # doctest: +SKIP
            torch.Size([8, 32, 16, 16])
            >>> cache = model.run_with_cache(images, [parse_unit("layer3:5"), LOGITS])  # doctest: +SKIP
            >>> cache[parse_unit("layer3:5")].shape, cache.output.shape          # doctest: +SKIP
            (torch.Size([8, 8, 8]), torch.Size([8, 10]))
        """
        if layers is not None:
            if keys is not None:
                raise InputError("give keys or layers (its old name), not both")
            keys = layers
        if isinstance(keys, (str, Unit, SAELayer)):
            keys = [keys]
        if self.check_input:
            self._check_input(images)
        known = self._any_layer_info(images)
        names: list[str] = []
        saes: dict[str, SAELayer] = {}
        want_output = bool(return_output)
        show_output = bool(return_output)
        if keys is None:
            names = [n for n in known if names_filter is None or names_filter(n)]
        else:
            for key in keys:
                if isinstance(key, Unit):
                    if key.kind == "logit":
                        want_output = True
                        continue
                    layer = key.layer or SAELayer(str(key.sae)).layer
                    if layer not in known:
                        raise unknown(f"layer of {self.spec.name}", layer, list(known))
                    names.append(layer)
                elif is_sae_layer(key):
                    sae_layer = SAELayer.parse(key)
                    if sae_layer.layer not in known:
                        raise unknown(f"layer of {self.spec.name}", sae_layer.layer, list(known))
                    saes[str(sae_layer)] = sae_layer
                elif isinstance(key, str) and key not in known and is_logits(key):
                    want_output = show_output = True
                elif isinstance(key, str):
                    if key not in known:
                        raise unknown(f"layer of {self.spec.name}", key, list(known))
                    names.append(key)
                else:
                    raise InputError(f"cannot cache {key!r}: give a layer name, a Unit, an SAE layer or LOGITS")
        names = list(dict.fromkeys(names))
        if not names and not saes and not want_output:
            return ActivationCache({})
        want = set(names) | set(saes)
        cache: dict[str, torch.Tensor] = {}
        keep = (lambda t: t.detach()) if detach else (lambda t: t)

        def stop_if_done() -> None:
            if stop_early and not want_output and len(cache) == len(want):
                raise _StopForward

        def grab(out, layer):
            if layer in want and layer not in cache and isinstance(out, torch.Tensor):
                cache[layer] = keep(out)
                stop_if_done()
            return None

        hooks = list(fwd_hooks) + [(n, grab) for n in names]
        for key, sae_layer in saes.items():
            hooks.append((sae_layer.layer, _sae_splice(sae_layer.load(self.device), key, cache, keep, stop_if_done)))
        output = None
        ctx = torch.no_grad() if detach else contextlib.nullcontext()
        try:
            with ctx, self.hooks(hooks):
                output = self.net(self.preprocess(images))
        except _StopForward:
            pass
        order = {**{n: known[n].order for n in names}, **{k: known[s.layer].order + 0.5 for k, s in saes.items()}}
        acts = {k: cache[k] for k in sorted(cache, key=lambda k: order[k])}
        if output is not None:
            output = keep(output)
        return ActivationCache(acts, output if want_output else None, include_output=show_output)

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
