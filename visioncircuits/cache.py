"""``ActivationCache``: what :meth:`HookedModel.run_with_cache` returns (TransformerLens's idea).

A mapping ``{key: tensor}`` in the order the layers ran (a ``MutableMapping``, so code written
for the old ``dict`` return, which added or removed entries, keeps working), plus:

- ``cache.output``: the model's logits when they were computed (``return_output=True`` or
  ``LOGITS`` among the keys), else ``None``;
- indexing by a layer name, :data:`~visioncircuits.keys.LOGITS`, an SAE layer (``"sae:DIR"``
  or :class:`~visioncircuits.keys.SAELayer`: the spliced SAE's latents, (N, d_sae, H, W)) or a
  :class:`~visioncircuits.units.Unit` (its activation map, (N, H, W), through
  :func:`~visioncircuits.unit_activations.unit_map`, so SAE latents keep their
  straight-through gradient);
- ``cache.to(device)``.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Optional, Union

import torch

from visioncircuits.keys import LOGITS, SAELayer, is_logits, is_sae_layer
from visioncircuits.units import Unit

CacheKey = Union[str, SAELayer, Unit]


class ActivationCache(MutableMapping):
    """Activations of one forward pass, keyed by layer name (run order) and readable by unit.

    Examples:
        >>> cache = model.run_with_cache(images, ["relu1", "relu2"], return_output=True)  # doctest: +SKIP
        >>> list(cache), cache.output.shape                                                # doctest: +SKIP
        (['relu1', 'relu2', 'logits'], torch.Size([2, 3]))
        >>> cache["relu2:3"] if False else cache[parse_unit("relu2:3")].shape              # doctest: +SKIP
        torch.Size([2, 16, 16])
    """

    def __init__(self, acts: Mapping[str, torch.Tensor], output: Optional[torch.Tensor] = None,
                 include_output: bool = False):
        self._acts = dict(acts)
        self._output = output
        self._include_output = include_output and output is not None

    # -------------------------------------------------------------- Mapping
    def _keys(self) -> list[str]:
        return list(self._acts) + ([LOGITS] if self._include_output else [])

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._acts) + int(self._include_output)

    def __contains__(self, key: object) -> bool:
        try:
            self[key]  # type: ignore[index]
        except KeyError:
            return False
        return True

    def __getitem__(self, key: CacheKey) -> torch.Tensor:
        if isinstance(key, Unit):
            return self._unit(key)
        if isinstance(key, SAELayer):
            key = str(key)
        if isinstance(key, str) and key in self._acts:
            return self._acts[key]
        if is_logits(key):
            if self._output is None:
                raise KeyError(f"{key!r}: the logits were not computed; pass return_output=True or LOGITS in keys")
            return self._output
        raise KeyError(key)

    def _unit(self, unit: Unit) -> torch.Tensor:
        from visioncircuits.unit_activations import unit_map

        if unit.kind == "logit":
            return self[LOGITS][:, unit.index]
        layer = unit.layer or (SAELayer(unit.sae).layer if unit.sae else None)
        if layer is None or layer not in self._acts:
            raise KeyError(f"{unit}: its layer {layer!r} is not in this cache (have {list(self._acts)})")
        return unit_map(unit, self._acts[layer])

    def __setitem__(self, key: CacheKey, value: torch.Tensor) -> None:
        if is_logits(key) and not (isinstance(key, str) and key in self._acts):
            self._output, self._include_output = value, True
        else:
            self._acts[str(key)] = value

    def __delitem__(self, key: CacheKey) -> None:
        if isinstance(key, str) and key in self._acts:
            del self._acts[key]
        elif is_logits(key) and self._include_output:
            self._output, self._include_output = None, False
        else:
            raise KeyError(key)

    # -------------------------------------------------------------- extras
    @property
    def output(self) -> Optional[torch.Tensor]:
        """The model output (logits), or None when the pass stopped early."""
        return self._output

    def to(self, device: Union[str, torch.device]) -> ActivationCache:
        """A copy with every tensor on ``device``."""
        out = self._output.to(device) if self._output is not None else None
        return ActivationCache({k: v.to(device) for k, v in self._acts.items()}, out, self._include_output)

    def layers(self) -> list[str]:
        """Cached layer names (SAE layers as ``"sae:DIR"``), in run order, without the logits."""
        return list(self._acts)

    def sae_layers(self) -> list[str]:
        return [k for k in self._acts if is_sae_layer(k)]

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {tuple(v.shape)}" for k, v in self.items())
        return f"ActivationCache({shapes})"
