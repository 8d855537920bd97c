"""Model zoo: ``load_model(name, weights)`` returns a hooked model taking [0, 1] RGB."""
from visioncircuits.zoo.registry import get_spec, list_models, list_prefixes, load_model, register, register_prefix
from visioncircuits.zoo.spec import ModelSpec, Preprocess

__all__ = [
    "load_model",
    "list_models",
    "list_prefixes",
    "get_spec",
    "register",
    "register_prefix",
    "ModelSpec",
    "Preprocess",
]
