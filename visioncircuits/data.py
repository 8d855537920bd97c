"""Image folders as streams of [0, 1] tensors; unreadable files are skipped and counted.

Shared by dataset examples, SAE activation streams and universality probes, so every part
of the tool reads images the same way (RGB, short side resized, centre crop).
"""
from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from visioncircuits.errors import InputError

log = logging.getLogger(__name__)

class UnreadableImageError(OSError):
    """An image file PIL cannot or will not decode (corrupt, truncated, or a decompression bomb).

    An ``OSError``, so every reader that skips unreadable files skips these too."""


# What PIL raises on files it cannot or will not read; load_image turns all of them into UnreadableImageError.
PIL_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError,
              Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}


def list_images(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Image-like files under ``folder`` sorted by path; a missing folder is a clear error."""
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"image folder not found: {folder}")
    if not folder.is_dir():
        raise InputError(f"not a folder: {folder}")
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_image(path: str | os.PathLike, size: Optional[int] = None) -> torch.Tensor:
    """One image as a (3, size, size) float tensor in [0, 1]: short side resized, centre-cropped.

    A file PIL refuses (corrupt, truncated, a decompression bomb over ``Image.MAX_IMAGE_PIXELS``)
    raises :class:`UnreadableImageError`; a missing file stays ``FileNotFoundError``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # refuse, do not decode 90+ Mpx
            return _load(path, size)
    except FileNotFoundError:
        raise
    except PIL_ERRORS as e:
        raise UnreadableImageError(f"{type(e).__name__}: {e}") from None


def _load(path: str | os.PathLike, size: Optional[int]) -> torch.Tensor:
    with Image.open(path) as im:
        im = im.convert("RGB")
        if size is not None:
            w, h = im.size
            s = size / min(w, h)
            nw, nh = max(size, round(w * s)), max(size, round(h * s))
            im = im.resize((nw, nh), Image.BILINEAR)  # pyright: ignore[reportAttributeAccessIssue]
            left, top = (nw - size) // 2, (nh - size) // 2
            im = im.crop((left, top, left + size, top + size))
        arr = np.asarray(im, dtype=np.float32) / 255.0
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def to_pil(image: torch.Tensor) -> Image.Image:
    """(3, H, W) tensor in [0, 1] -> PIL image."""
    arr = (image.detach().float().clamp(0, 1).cpu().permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return Image.fromarray(arr)


@dataclass
class FolderStats:
    """How many files were read and which were skipped (unreadable or not images)."""

    read: int = 0
    skipped: list = field(default_factory=list)
    reasons: list = field(default_factory=list)


def none_readable(folder, n_files: int, skipped: Sequence[str], reasons: Sequence[str] = ()) -> InputError:
    """'none of the N image files in DIR could be read' (never 'no images found' for a folder that has some)."""
    why = f"; e.g. {Path(skipped[0]).name}: {reasons[0]}" if skipped and reasons else ""
    return InputError(f"none of the {n_files} image files in {folder} could be read "
                      f"({len(skipped)} unreadable{why})")


def check_image_folder(folder: str | os.PathLike, what: str = "dataset") -> list[Path]:
    """The folder's image files, once at least one of them is known to load (checked up front,
    stopping at the first readable file); a folder without images, or whose images are all
    unreadable, is one true :class:`InputError`."""
    paths = list_images(folder)
    if not paths:
        raise InputError(f"{what} {folder}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    skipped, reasons = [], []
    for p in paths:
        try:
            load_image(p, 8)
            return paths
        except OSError as e:
            skipped.append(str(p))
            reasons.append(str(e))
    raise none_readable(folder, len(paths), skipped, reasons)


def read_images(paths: Sequence[Path], size: Optional[int]) -> tuple[list[Path], list[torch.Tensor], list[str]]:
    """Load ``paths``, skipping unreadable files: (kept paths, images, skipped paths)."""
    kept, imgs, skipped = [], [], []
    for p in paths:
        try:
            imgs.append(load_image(p, size))
            kept.append(p)
        except OSError as e:
            log.warning("skipping unreadable image %s: %s", p, e)
            skipped.append(str(p))
    return kept, imgs, skipped


class ImageFolder:
    """Stream an image folder in minibatches: ``for paths, images in ImageFolder(d, 64).batches(32)``.

    Unreadable files are logged, counted in ``stats.skipped`` and never crash the run.
    """

    def __init__(
        self, folder: str | os.PathLike, size: int, limit: Optional[int] = None, paths: Optional[Sequence[Path]] = None
    ):
        self.folder = Path(folder)
        self.size = int(size)
        self.paths = list(paths) if paths is not None else list_images(folder)
        if limit is not None:
            self.paths = self.paths[:limit]
        if not self.paths:
            raise InputError(f"no images found in {folder} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        self.stats = FolderStats()

    def __len__(self) -> int:
        return len(self.paths)

    def no_readable_error(self) -> InputError:
        """The true message when every file failed: how many image files there were and why one failed."""
        return none_readable(self.folder, len(self.paths), self.stats.skipped, self.stats.reasons)

    def batches(self, batch_size: int = 32) -> Iterator[tuple[list[Path], torch.Tensor]]:
        self.stats = FolderStats()
        paths: list[Path] = []
        imgs: list[torch.Tensor] = []
        for p in self.paths:
            try:
                imgs.append(load_image(p, self.size))
                paths.append(p)
                self.stats.read += 1
            except OSError as e:  # UnreadableImageError included
                log.warning("skipping unreadable image %s: %s", p, e)
                self.stats.skipped.append(str(p))
                self.stats.reasons.append(str(e))
                continue
            if len(imgs) == batch_size:
                yield paths, torch.stack(imgs)
                paths, imgs = [], []
        if imgs:
            yield paths, torch.stack(imgs)
        if not self.stats.read:
            raise self.no_readable_error()
