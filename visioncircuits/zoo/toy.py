"""The toy zoo: small CNNs trained on the toy world, with weights shipped in ``models/toy/``.

Names are ``toy-<arch>-s<seed>`` (primitive layer supervised channel by channel during
training, so its labels are built in) and ``toy-<arch>-u-s<seed>`` (class loss only: any
primitive detector emerged); ``spec.default_weights`` points at the committed
safetensors file (found relative to this file, so an editable install and a checkout both
work), ``spec.class_names`` are the toy classes and ``spec.extra["primitive_layer"]`` the
layer trained to represent the primitives.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

from visioncircuits.toyworld.models import DESCRIPTIONS, MAIN_LAYERS, PRIMITIVE_LAYER
from visioncircuits.toyworld.scenes import CLASSES
from visioncircuits.toyworld.train import init_model, model_name
from visioncircuits.zoo.registry import register
from visioncircuits.zoo.spec import ModelSpec

MODELS_DIR = Path(__file__).resolve().parents[2] / "models" / "toy"
ZOO = [("vgg", 0), ("vgg", 1), ("resnet", 0), ("resnet", 1), ("inception", 0), ("inception", 1), ("narrow", 0)]
UNSUPERVISED_ZOO = [("vgg", 0), ("vgg", 1), ("resnet", 0), ("resnet", 1), ("inception", 0), ("inception", 1)]
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def toy_spec(arch: str, seed: int, supervised: bool = True) -> ModelSpec:
    """The registry entry of ``toy-<arch>[-u]-s<seed>`` (weights need not exist yet: training writes them)."""
    name = model_name(arch, seed, supervised)
    how = "primitive layer supervised" if supervised else "unsupervised (class loss only)"
    return ModelSpec(
        name=name,
        family="toy",
        description=f"toy world: {DESCRIPTIONS[arch]}, {how}, seed {seed}, 64x64 input",
        # the model's own initial weights: weights="random" is exactly where its training started
        build=partial(init_model, arch, seed, supervised),
        input_size=64,
        mean=MEAN,
        std=STD,
        num_classes=len(CLASSES),
        class_names=tuple(CLASSES),
        main_layers=MAIN_LAYERS[arch],
        card=str(MODELS_DIR / f"{name}.md"),
        default_weights=str(MODELS_DIR / f"{name}.safetensors"),
        extra={"arch": arch, "seed": seed, "primitive_layer": PRIMITIVE_LAYER[arch], "supervised": supervised},
    )


def toy_names(supervised: bool = True) -> list[str]:
    """The supervised zoo's names (default) or the unsupervised zoo's."""
    return [model_name(a, s, supervised) for a, s in (ZOO if supervised else UNSUPERVISED_ZOO)]


for _arch, _seed in ZOO:
    register(toy_spec(_arch, _seed))
for _arch, _seed in UNSUPERVISED_ZOO:
    register(toy_spec(_arch, _seed, supervised=False))
