"""visioncircuits: mechanistic interpretability for vision models.

Feature-visualisation galleries, sparse autoencoders on CNN activations, circuit graphs
and cross-model universality, all on one hooked-model interface where every model takes
RGB images in [0, 1].
"""
from visioncircuits.errors import VisionCircuitsError
from visioncircuits.units import Unit, parse_unit

__version__ = "0.1.0"


def load_model(name: str, weights=None, device=None):
    """Load a registered model as a :class:`~visioncircuits.hooks.HookedModel`."""
    from visioncircuits.zoo import load_model as _load

    return _load(name, weights=weights, device=device)


__all__ = ["VisionCircuitsError", "Unit", "parse_unit", "load_model", "__version__"]
