"""``AtlasConfig``: every setting of a model atlas in one frozen dataclass.

Rendering settings stay in :class:`~visioncircuits.featvis.config.RenderConfig` (the same
object ``gallery`` uses, so renders on disk are shared); this holds what the atlas adds.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

from visioncircuits.errors import InputError
from visioncircuits.featvis.config import RenderConfig


@dataclass(frozen=True)
class AtlasConfig:
    """Settings of :func:`visioncircuits.atlas.build_atlas`.

    ``layers``: layers in the site (default: the model's main layers). ``units``: a range
    for every layer (``"0:8"``, ``"all"``) and/or per-layer ranges ``{layer: range}``.
    ``k`` dataset examples per unit, ``diverse`` diverse renders, ``negative`` the negative
    render. ``n_photos`` caps the photos read. ``neighbours``: upstream/downstream units
    shown per unit. ``sae_latents``: latents listed per unit (each gets its own page).
    ``atlas_layers``: layers with an activation atlas (None: the last site layer; () none);
    ``grid`` cells per side, ``positions`` sampled map positions per photo, ``min_count``
    vectors a cell needs to be drawn. ``objective``: what unit renders maximise (as in
    ``build_gallery``: ``"channel"`` spatial mean, ``"neuron"`` the centre position).
    ``layout``: ``"umap"`` (Carter et al.) or ``"pca"`` (the first two principal components:
    no numba compilation, for quick checks and tests).
    """

    render: RenderConfig = field(default_factory=RenderConfig)
    layers: tuple = ()
    units: str = "all"
    layer_units: tuple = ()  # ((layer, range), ...)
    k: int = 6
    diverse: int = 2
    negative: bool = True
    n_photos: Optional[int] = None
    neighbours: int = 4
    sae_latents: int = 3
    atlas_layers: Optional[tuple] = None
    grid: int = 16
    positions: int = 8
    min_count: int = 3
    atlas_patches: int = 4
    seed: int = 0
    objective: str = "channel"
    layout: str = "umap"

    def __post_init__(self):
        if self.layout not in ("umap", "pca"):
            raise InputError(f"AtlasConfig.layout must be 'umap' or 'pca', got {self.layout!r}")
        if self.objective not in ("channel", "neuron"):
            raise InputError(f"AtlasConfig.objective must be 'channel' or 'neuron', got {self.objective!r}")
        for name in ("k", "grid", "positions", "min_count"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"AtlasConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("diverse", "neighbours", "sae_latents", "atlas_patches"):
            if int(getattr(self, name)) < 0:
                raise InputError(f"AtlasConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.n_photos is not None and self.n_photos < 1:
            raise InputError(f"AtlasConfig.n_photos must be >= 1 or None, got {self.n_photos}")
        if self.grid > 64:
            raise InputError(f"AtlasConfig.grid must be <= 64 cells per side, got {self.grid}")

    def replace(self, **kw) -> AtlasConfig:
        return replace(self, **kw)

    def units_for(self, layer: str) -> str:
        """The unit range of ``layer``: its own if given, else the common one."""
        return dict(self.layer_units).get(layer, self.units)

    @classmethod
    def quick(cls, **kw) -> AtlasConfig:
        """Small settings: 8 units per layer, renders of 48 steps, 150 photos, an 8x8 atlas."""
        base: dict = dict(render=RenderConfig(steps=48, progress=False), units="0:8", k=4, diverse=2,
                          n_photos=150, grid=8, positions=8, min_count=2, atlas_patches=3)
        base.update(kw)
        return cls(**base)
