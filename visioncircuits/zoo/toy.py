"""The toy zoo: small CNNs trained on the toy world, with weights shipped in ``models/toy/``.

Names are ``toy-<arch>-s<seed>``; ``spec.default_weights`` points at the committed
safetensors file (found relative to this file, so an editable install and a checkout both
work), ``spec.class_names`` are the toy classes and ``spec.extra["primitive_layer"]`` the
layer trained to represent the primitives.
"""
from __future__ import annotations

from pathlib import Path

from visioncircuits.toyworld.models import ARCHS, DESCRIPTIONS, MAIN_LAYERS, PRIMITIVE_LAYER
from visioncircuits.toyworld.scenes import CLASSES
from visioncircuits.zoo.registry import register
from visioncircuits.zoo.spec import ModelSpec

MODELS_DIR = Path(__file__).resolve().parents[2] / "models" / "toy"
ZOO = [("vgg", 0), ("vgg", 1), ("resnet", 0), ("resnet", 1), ("inception", 0), ("inception", 1), ("narrow", 0)]
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def toy_spec(arch: str, seed: int) -> ModelSpec:
    """The registry entry of ``toy-<arch>-s<seed>`` (weights need not exist yet: training writes them)."""
    name = f"toy-{arch}-s{seed}"
    return ModelSpec(
        name=name,
        family="toy",
        description=f"toy world: {DESCRIPTIONS[arch]}, seed {seed}, 64x64 input",
        build=ARCHS[arch],
        input_size=64,
        mean=MEAN,
        std=STD,
        num_classes=len(CLASSES),
        class_names=tuple(CLASSES),
        main_layers=MAIN_LAYERS[arch],
        card=str(MODELS_DIR / f"{name}.md"),
        default_weights=str(MODELS_DIR / f"{name}.safetensors"),
        extra={"arch": arch, "seed": seed, "primitive_layer": PRIMITIVE_LAYER[arch]},
    )


def toy_names() -> list[str]:
    return [f"toy-{a}-s{s}" for a, s in ZOO]


for _arch, _seed in ZOO:
    register(toy_spec(_arch, _seed))
