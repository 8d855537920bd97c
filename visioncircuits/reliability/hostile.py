"""Hostile files a careless or malicious user can hand the tool, built small and fast.

Every builder writes under a folder it is given and returns the paths it made. Nothing here
is ever executed: the malicious pickle only proves that loading never runs it.
"""
from __future__ import annotations

import json
import os
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

# Names that try to break out of HTML attributes and text (they must appear escaped on pages).
INJECTION_NAMES = ('<svg onload=alert(1)>.png', '"><img src=x onerror=alert(1)>.png')
NON_UTF8_NAME = b"bad-\xff\xfe-name.png"
MARKER = "PWNED"  # the malicious pickle writes a file of this name if it ever runs


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(path: Path, side: int) -> Path:
    """A tiny PNG that declares ``side x side`` 1-bit pixels (PIL refuses it before decoding)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    idat = zlib.compress(row * 4)  # far too short: nothing should ever decode this far
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    path.write_bytes(data)
    return path


def _noise(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def good_images(folder: Path, n: int = 3, size: int = 48) -> list[Path]:
    """Ordinary readable RGB PNGs."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"good_{i}.png"
        Image.fromarray(_noise(size, size, i)).save(p)
        out.append(p)
    return out


def unreadable_images(folder: Path) -> dict[str, Path]:
    """Files with image suffixes that no reader should accept: truncated, empty, text, bombs."""
    folder.mkdir(parents=True, exist_ok=True)
    full = folder / "_full.jpg"
    Image.fromarray(_noise(64, 64, 7)).save(full, quality=90)
    data = full.read_bytes()
    full.unlink()
    made = {
        "truncated_jpeg": folder / "truncated.jpg",
        "empty_png": folder / "empty.png",
        "text_as_jpeg": folder / "text.jpg",
        "bomb_error": folder / "bomb_error.png",  # > 2 x MAX_IMAGE_PIXELS: DecompressionBombError
        "bomb_warning": folder / "bomb_warning.png",  # > MAX_IMAGE_PIXELS: DecompressionBombWarning
    }
    made["truncated_jpeg"].write_bytes(data[: len(data) // 3])
    made["empty_png"].write_bytes(b"")
    made["text_as_jpeg"].write_text("not an image\n")
    bomb_png(made["bomb_error"], 20_000)
    bomb_png(made["bomb_warning"], 10_000)
    return made


def odd_mode_images(folder: Path, size: int = 40) -> dict[str, Path]:
    """Readable images in modes other than 8-bit RGB (each must load as RGB)."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = Image.fromarray(_noise(size, size, 3))
    made = {
        "cmyk_jpeg": folder / "cmyk.jpg",
        "gray16_png": folder / "gray16.png",
        "palette_alpha_png": folder / "palette_alpha.png",
        "one_bit_png": folder / "one_bit.png",
        "gray_alpha_png": folder / "gray_alpha.png",
        "rgba_webp": folder / "rgba.webp",
    }
    rgb.convert("CMYK").save(made["cmyk_jpeg"])
    Image.fromarray(np.arange(size * size, dtype=np.uint16).reshape(size, size) * 37).save(made["gray16_png"])
    pal = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.info["transparency"] = 0
    pal.save(made["palette_alpha_png"], transparency=0)
    rgb.convert("1").save(made["one_bit_png"])
    rgb.convert("LA").save(made["gray_alpha_png"])
    try:
        rgb.convert("RGBA").save(made["rgba_webp"])
    except (OSError, KeyError):  # Pillow built without WebP
        del made["rgba_webp"]
    return made


def named_images(folder: Path) -> dict[str, Path]:
    """Readable images whose names are hostile: HTML injection, and bytes that are not UTF-8."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for i, name in enumerate(INJECTION_NAMES):
        p = folder / name
        Image.fromarray(_noise(40, 40, 20 + i)).save(p, format="PNG")
        made[f"injection_{i}"] = p
    raw = os.path.join(os.fsencode(folder), NON_UTF8_NAME)
    with open(raw, "wb") as f:
        Image.fromarray(_noise(40, 40, 30)).save(f, format="PNG")
    made["non_utf8"] = Path(os.fsdecode(raw))
    return made


def hostile_folder(folder: Path) -> dict[str, Path]:
    """One folder with good, unreadable, odd-mode and hostile-named images together."""
    made = {f"good_{i}": p for i, p in enumerate(good_images(folder))}
    made.update(unreadable_images(folder))
    made.update(odd_mode_images(folder))
    made.update(named_images(folder))
    return made


class _Evil:
    """Pickling this makes a file that, if ever unpickled with full pickle, writes MARKER next to itself."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def malicious_pickle(path: Path) -> Path:
    """A weights-looking file whose unpickling creates ``MARKER`` in its folder (it must never appear)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump({"state_dict": {"w": _Evil(path.parent / MARKER)}}, f)
    return path


# cfg.json contents that are valid JSON but of the wrong shape or types.
BAD_SAE_CONFIGS = {
    "list": [],
    "string": "topk",
    "null": None,
    "empty_object": {},
    "d_in_text": {"architecture": "topk", "d_in": "26", "d_sae": 32, "k": 4, "layer": "relu3", "model": "toy-vgg-s0"},
    "d_sae_negative": {"architecture": "topk", "d_in": 26, "d_sae": -3, "k": 4, "layer": "relu3",
                       "model": "toy-vgg-s0"},
    "k_float": {"architecture": "topk", "d_in": 26, "d_sae": 32, "k": 2.5, "layer": "relu3", "model": "toy-vgg-s0"},
    "layer_number": {"architecture": "topk", "d_in": 26, "d_sae": 32, "k": 4, "layer": 3, "model": "toy-vgg-s0"},
    "arch_unknown": {"architecture": "magic", "d_in": 26, "d_sae": 32, "k": 4, "layer": "relu3",
                     "model": "toy-vgg-s0"},
    "layer_shape_text": {"architecture": "topk", "d_in": 26, "d_sae": 32, "k": 4, "layer": "relu3",
                         "model": "toy-vgg-s0", "layer_shape": "26x16x16"},
    "training_list": {"architecture": "topk", "d_in": 26, "d_sae": 32, "k": 4, "layer": "relu3",
                      "model": "toy-vgg-s0", "training": [1, 2]},
    "scale_nan": {"architecture": "topk", "d_in": 26, "d_sae": 32, "k": 4, "layer": "relu3",
                  "model": "toy-vgg-s0", "input_scale": "NaN"},
    "scale_nan_number": {"architecture": "topk", "d_in": 26, "d_sae": 32, "k": 4, "layer": "relu3",
                         "model": "toy-vgg-s0", "input_scale": float("nan")},
}


def bad_sae_folders(root: Path, weights_from: Path | None = None) -> dict[str, Path]:
    """One SAE folder per bad cfg.json (with real weights copied from ``weights_from`` if given)."""
    made = {}
    for name, cfg in BAD_SAE_CONFIGS.items():
        d = root / f"sae_{name}"
        d.mkdir(parents=True, exist_ok=True)
        (d / "cfg.json").write_text(json.dumps(cfg))
        if weights_from is not None and (weights_from / "sae.safetensors").exists():
            (d / "sae.safetensors").write_bytes((weights_from / "sae.safetensors").read_bytes())
        made[name] = d
    return made
