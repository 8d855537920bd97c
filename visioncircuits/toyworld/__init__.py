"""The toy vision world: procedural images whose true features are known.

Classes are compositions of primitives (curves, lines, shapes, colour blobs, textures,
frequency boundaries); every image carries which primitives it holds, their parameters
and masks, so unit labels, circuits, SAEs and universality can be checked against truth.
"""
from visioncircuits.toyworld.generate import ToyBatch, generate
from visioncircuits.toyworld.primitives import PRIMITIVE_INDEX, PRIMITIVES, primitive_family, readable
from visioncircuits.toyworld.probes import ProbeSet, probe_set
from visioncircuits.toyworld.scenes import CLASS_PRIMITIVES, CLASSES

__all__ = [
    "PRIMITIVES",
    "PRIMITIVE_INDEX",
    "CLASSES",
    "CLASS_PRIMITIVES",
    "ToyBatch",
    "generate",
    "ProbeSet",
    "probe_set",
    "readable",
    "primitive_family",
]
