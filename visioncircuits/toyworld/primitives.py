"""The primitive vocabulary of the toy world: names, readable labels and colours.

Primitives are the ground truth every other part of the tool is measured against, so the
list is fixed and ordered: column ``p`` of ``ToyBatch.present`` is ``PRIMITIVES[p]``.

Orientation convention (as in the Curve Detectors paper's figures): angles in degrees,
counter-clockwise, 0 = pointing right, 90 = pointing up. ``curve_<a>deg`` is an arc whose
convex side (its bulge) points towards ``a``: a smile is ``curve_270deg``. ``line_<a>deg``
is a thin dark stroke at orientation ``a`` (mod 180).
"""
from __future__ import annotations

CURVE_ANGLES = (0, 45, 90, 135, 180, 225, 270, 315)
LINE_ANGLES = (0, 45, 90, 135)
COLOURS = {  # RGB in [0, 1]; colour blobs are jittered around these
    "red": (0.86, 0.13, 0.12),
    "green": (0.18, 0.62, 0.20),
    "blue": (0.14, 0.30, 0.86),
    "yellow": (0.96, 0.84, 0.12),
    "brown": (0.50, 0.29, 0.11),
}
TEXTURES = ("stripes", "dots", "fur", "checker")
SHAPES = ("ring", "dot", "wheel", "box")

PRIMITIVES: list[str] = (
    [f"curve_{a}deg" for a in CURVE_ANGLES]
    + [f"line_{a}deg" for a in LINE_ANGLES]
    + list(SHAPES)
    + [f"{c}_blob" for c in COLOURS]
    + list(TEXTURES)
    + ["freq_boundary"]
)
PRIMITIVE_INDEX: dict[str, int] = {p: i for i, p in enumerate(PRIMITIVES)}

_READABLE = {
    "ring": "ring (circle outline)",
    "dot": "dot",
    "wheel": "wheel",
    "box": "box (filled rectangle)",
    "stripes": "stripes texture",
    "dots": "dots texture",
    "fur": "fur texture",
    "checker": "checker texture",
    "freq_boundary": "high-low frequency boundary",
}


def readable(primitive: str) -> str:
    """A human label: 'curve_45deg' -> 'curve 45deg', 'red_blob' -> 'red blob'."""
    if primitive in _READABLE:
        return _READABLE[primitive]
    return primitive.replace("_", " ")


def primitive_family(primitive: str) -> str:
    """'curve', 'line', 'shape', 'colour', 'texture' or 'boundary' (for grouping in reports)."""
    if primitive.startswith("curve_"):
        return "curve"
    if primitive.startswith("line_"):
        return "line"
    if primitive.endswith("_blob"):
        return "colour"
    if primitive in TEXTURES:
        return "texture"
    if primitive in SHAPES:
        return "shape"
    return "boundary"
