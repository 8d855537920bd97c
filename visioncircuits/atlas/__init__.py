"""Model atlas: one browsable, offline site per model (issue 15).

Joins the separate pages of the tool: feature visualisations and dataset examples
(:mod:`visioncircuits.featvis.gallery`), expanded-weight neighbours
(:mod:`visioncircuits.circuits.expanded`), SAE latents and universality matches, plus an
activation atlas (Carter et al. 2019) per layer and a client-side search.
"""
from visioncircuits.atlas.config import AtlasConfig
from visioncircuits.atlas.site import AtlasResult, build_atlas

__all__ = ["AtlasConfig", "AtlasResult", "build_atlas"]
