"""The photos an atlas reads, and the class names their file names carry.

A toy-world model gets generated toy images (their class in the file name), so its site
needs no photo folder; other models need ``dataset``. Classes come from file names only:
``<wnid>_<name>.jpg`` (the ImageNet sample layout) or ``toy_<i>_<class>.png``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional, Union

from visioncircuits.atomic import write_png
from visioncircuits.data import check_image_folder, list_images
from visioncircuits.errors import InputError

_WNID = re.compile(r"^n\d{8}$")
TOY_SEED = 4242


def photo_class(path: Union[str, os.PathLike]) -> Optional[str]:
    """The class a photo's file name names, or None: ``n01440764_tench.jpg`` -> ``tench``,
    ``toy_0003_house.png`` -> ``house``."""
    parts = Path(path).stem.split("_")
    if parts and _WNID.match(parts[0]):
        parts = parts[1:]
    else:
        parts = [p for p in parts if not p.isdigit() and p.lower() != "toy"]
    name = " ".join(parts).strip()
    return name or None


def is_toy(model) -> bool:
    return str(model.spec.name).startswith("toy-")


def toy_photos(out: Path, n: int, size: int, seed: int = TOY_SEED) -> Path:
    """Generate ``n`` toy-world images into ``out`` (kept: reruns reuse them)."""
    from visioncircuits.toyworld import CLASSES, generate

    out.mkdir(parents=True, exist_ok=True)
    if len(list_images(out)) >= n:
        return out
    batch = generate(n, seed=seed, size=size)
    for i in range(n):
        write_png(out / f"toy_{i:04d}_{CLASSES[int(batch.labels[i])]}.png", batch.images[i])
    return out


def check_dataset(folder: Union[str, os.PathLike, None]) -> Optional[Path]:
    """``folder`` as a Path, checked to hold images (None passes through)."""
    if folder is None:
        return None
    p = Path(folder)
    if not p.is_dir():
        raise InputError(f"dataset folder not found: {p}")
    check_image_folder(p, "dataset folder")  # no images, or none readable: a true error before any work
    return p


def resolve_photos(model, site: Path, dataset: Union[str, os.PathLike, None], n: int) -> Path:
    """The photo folder of a site: ``dataset``, or generated toy images for a toy model."""
    folder = check_dataset(dataset)
    if folder is not None:
        return folder
    if is_toy(model):
        return toy_photos(site / "photos" / "toyworld", n, int(model.spec.input_size))
    raise InputError(f"{model.spec.name} needs a photo folder (dataset=...) for its dataset examples and atlas")


def default_photo_folder() -> Optional[Path]:
    """The ImageNet sample photos of the shared folder ($VISIONCIRCUITS_SHARED or ../shared), if present."""
    d = Path(os.environ.get("VISIONCIRCUITS_SHARED", Path.cwd().parent / "shared")) / "data" / "imagenet-samples"
    return d if d.is_dir() else None


def builtin_photos(site: Path) -> Path:
    """scikit-image's public-domain/CC0 samples written into the site (the demo's fallback)."""
    from visioncircuits.demo.builtin_images import write_builtin_images

    folder = site / "photos" / "builtin"
    if not (folder.is_dir() and list_images(folder)):
        write_builtin_images(folder)
    return folder
