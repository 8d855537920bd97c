"""Feature visualisation: render what units detect, dataset examples, and layer galleries.

``render(model, ["layer3.2:5", "sae:runs/sae1:12", objectives.channel("mixed4a", 476)])``
optimises one image per unit in a shared batch and returns a :class:`RenderResult`.
"""
from visioncircuits.featvis import objectives
from visioncircuits.featvis.config import RenderConfig
from visioncircuits.featvis.dataset_examples import ExamplesResult, dataset_examples
from visioncircuits.featvis.gallery import GalleryResult, build_gallery
from visioncircuits.featvis.objectives import Objective, as_objective
from visioncircuits.featvis.render import RenderResult, render, render_batch, render_diverse

__all__ = [
    "RenderConfig",
    "render",
    "render_batch",
    "render_diverse",
    "RenderResult",
    "objectives",
    "Objective",
    "as_objective",
    "dataset_examples",
    "ExamplesResult",
    "build_gallery",
    "GalleryResult",
]
