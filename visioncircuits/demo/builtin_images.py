"""Licence-clean photos for the demo when the user gives no ``--dataset``: scikit-image's samples.

scikit-image ships these images inside its wheel, each documented as public domain or CC0
(see each ``skimage.data`` function's notes); nothing is downloaded. They are written into the
demo's output folder, never into the project. Without scikit-image the list is empty and the
demo says so.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

# skimage.data name -> licence as stated in its docstring
IMAGES = {
    "astronaut": "public domain (NASA)",
    "chelsea": "CC0 (Stefan van der Walt)",
    "coffee": "CC0 (Rachel Michetti)",
    "rocket": "public domain (SpaceX)",
    "hubble_deep_field": "public domain (NASA)",
    "immunohistochemistry": "no known copyright restrictions",
    "retina": "CC0 1.0",
    "brick": "CC0 (cc0textures.com)",
    "grass": "CC0 (cc0textures.com)",
    "gravel": "CC0 (cc0textures.com)",
}


def write_builtin_images(folder: Path) -> dict[str, str]:
    """Write the available sample images as RGB PNGs to ``folder``; returns {file name: licence}."""
    try:
        import skimage.data as data
    except ImportError:
        log.warning("scikit-image is not installed: no built-in sample photos")
        return {}
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, licence in IMAGES.items():
        path = folder / f"{name}.png"
        if not path.exists():
            try:
                arr = np.asarray(getattr(data, name)())
            except (OSError, ValueError, ImportError, AttributeError, RuntimeError) as e:  # missing/undownloadable file
                log.warning("skimage.data.%s unavailable: %s", name, e)
                continue
            if arr.dtype == bool:
                arr = arr.astype(np.uint8) * 255
            if arr.ndim == 2:
                arr = np.stack([arr] * 3, -1)
            Image.fromarray(arr[..., :3].astype(np.uint8)).save(path.with_suffix(".tmp.png"))
            path.with_suffix(".tmp.png").replace(path)
        written[path.name] = licence
    return written
