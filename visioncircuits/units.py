"""Unit addresses: ``LAYER:CHANNEL``, ``LAYER:CHANNEL@Y,X`` and SAE latents ``sae:DIR:LATENT``.

One parser for the whole tool, so a string a user types works the same in ``render``,
``gallery``, ``circuit`` and the library.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from visioncircuits.errors import InputError
from visioncircuits.utils import slug

_POS = r"(?:@(?P<y>-?\d+),(?P<x>-?\d+))?"
_CHANNEL_RE = re.compile(r"^(?P<layer>[^:@\s]+):(?P<index>-?\d+)" + _POS + r"$")
_SAE_RE = re.compile(r"^sae:(?P<sae>.+):(?P<index>-?\d+)" + _POS + r"$")
_LOGIT_RE = re.compile(r"^(?:logit|class):(?P<index>-?\d+)$")


@dataclass(frozen=True)
class Unit:
    """One unit: a channel of ``layer`` (or latent of the SAE at ``sae``), optionally one position.

    ``layer`` is the model layer the unit reads from; for SAE latents it is filled from the
    SAE's ``cfg.json`` by :func:`visioncircuits.unit_activations.resolve_unit` (None until then).
    ``kind`` is "channel", "sae" or "logit".
    """

    layer: Optional[str]
    index: int
    y: Optional[int] = None
    x: Optional[int] = None
    sae: Optional[str] = None
    kind: str = "channel"

    @property
    def has_position(self) -> bool:
        return self.y is not None

    def __str__(self) -> str:
        pos = f"@{self.y},{self.x}" if self.has_position else ""
        if self.kind == "sae":
            return f"sae:{self.sae}:{self.index}{pos}"
        if self.kind == "logit":
            return f"logit:{self.index}"
        return f"{self.layer}:{self.index}{pos}"

    @property
    def slug(self) -> str:
        """A file-name-safe form of the address."""
        return slug(str(self))


def parse_unit(text: str) -> Unit:
    """Parse a unit address; raise :class:`InputError` with the accepted forms on failure."""
    text = text.strip()
    m = _LOGIT_RE.match(text)
    if m:
        return Unit(layer=None, index=int(m["index"]), kind="logit")
    m = _SAE_RE.match(text)
    if m:
        y, x = (int(m["y"]), int(m["x"])) if m["y"] is not None else (None, None)
        return Unit(layer=None, index=int(m["index"]), y=y, x=x, sae=m["sae"], kind="sae")
    m = _CHANNEL_RE.match(text)
    if m:
        y, x = (int(m["y"]), int(m["x"])) if m["y"] is not None else (None, None)
        return Unit(layer=m["layer"], index=int(m["index"]), y=y, x=x)
    raise InputError(
        f"cannot parse unit '{text}'; expected LAYER:CHANNEL, LAYER:CHANNEL@Y,X, "
        "sae:SAE_DIR:LATENT or logit:CLASS (e.g. mixed3b:379, layer3.2.conv2:5@3,4)"
    )


def parse_range(text: str, n: int) -> list[int]:
    """Parse ``"0:64"``, ``"5"``, ``"1,4,9"`` or ``"all"`` into unit indices below ``n``."""
    text = text.strip()
    if text in ("all", ":"):
        return list(range(n))
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if ":" in part:
                a, b = part.split(":", 1)
                lo = int(a) if a else 0
                hi = int(b) if b else n
                out.extend(range(lo, hi))
            else:
                out.append(int(part))
        except ValueError:
            raise InputError(f"cannot parse unit range '{text}'; use e.g. 0:64, 3,7,9 or all") from None
    bad = [i for i in out if i < 0 or i >= n]
    if bad:
        raise InputError(f"unit {bad[0]} out of range: the layer has {n} units (0..{n - 1})")
    if not out:
        raise InputError(f"unit range '{text}' selects no units; use e.g. 0:64, 3,7,9 or all")
    twice = sorted({i for i in out if out.count(i) > 1})
    if twice:
        raise InputError(f"unit range '{text}' names unit {twice[0]} twice")
    return out
