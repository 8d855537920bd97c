"""What an activation cache is indexed by, besides a layer name: the logits and SAE layers.

Before this module the logits were spelled ``"<logits>"`` in feature visualisation and
``"logits"`` in circuits, and SAE layers were ``"sae:DIR"`` strings sliced with ``[4:]``.
Now there is one :data:`LOGITS` constant and one parsed :class:`SAELayer` value.

``LOGITS`` is a ``str`` (its text is ``"logits"``, as circuit graphs have always written it),
so it works as a dict key and in JSON; compare with :func:`is_logits`. ``SAELayer`` prints
back to ``"sae:DIR"`` so layer lists and graph files keep their text form.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

SAE_PREFIX = "sae:"


class _LogitsKey(str):
    """The model's output as a pseudo-layer (one instance: :data:`LOGITS`)."""

    def __repr__(self) -> str:
        return "LOGITS"

    def __reduce__(self):  # pickles back to the singleton
        return (_logits, ())


def _logits() -> _LogitsKey:
    return LOGITS


LOGITS = _LogitsKey("logits")
_LEGACY_LOGITS = ("logits", "<logits>")  # the two spellings used before LOGITS existed


def is_logits(key: object) -> bool:
    """True for :data:`LOGITS` and its legacy spellings ``"logits"`` / ``"<logits>"``."""
    return key is LOGITS or (isinstance(key, str) and not isinstance(key, SAELayer) and key in _LEGACY_LOGITS)


@dataclass(frozen=True)
class SAELayer:
    """The latents of the SAE saved in ``sae`` (a directory): a layer of its own.

    ``layer`` (the model layer the SAE reads) comes from the SAE's ``cfg.json`` on first use.
    ``str(SAELayer("runs/s"))`` is ``"sae:runs/s"``, the form users type and files store.
    """

    sae: str

    @classmethod
    def parse(cls, text: Union[str, SAELayer]) -> SAELayer:
        """``"sae:DIR"`` -> ``SAELayer("DIR")`` (an ``SAELayer`` passes through)."""
        if isinstance(text, SAELayer):
            return text
        if not is_sae_layer(text):
            raise ValueError(f"not an SAE layer: {text!r} (expected 'sae:DIR')")
        return cls(text[len(SAE_PREFIX):])

    @property
    def layer(self) -> str:
        """The model layer this SAE was trained on (from ``cfg.json``)."""
        from visioncircuits.unit_activations import sae_config

        return str(sae_config(self.sae)["layer"])

    def load(self, device=None):
        """The SAE module (cached per directory), on ``device`` if given."""
        from visioncircuits.unit_activations import get_sae

        return get_sae(self.sae, device)

    def __str__(self) -> str:
        return f"{SAE_PREFIX}{self.sae}"


def is_sae_layer(key: object) -> bool:
    """True for an :class:`SAELayer` or a ``"sae:DIR"`` string."""
    return isinstance(key, SAELayer) or (isinstance(key, str) and key.startswith(SAE_PREFIX))


def model_layer(name: Union[str, SAELayer]) -> str:
    """The model layer behind a layer-list entry: itself, or the layer an SAE reads."""
    return SAELayer.parse(name).layer if is_sae_layer(name) else str(name)
