"""A small image folder and model for activation-store tests (toy-world scenes written as PNGs)."""
from __future__ import annotations

import pytest

MODEL = "toy-narrow-s0"
LAYER = "relu2"  # (32, 32, 32) at 64 px


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    from visioncircuits.data import to_pil
    from visioncircuits.toyworld import generate

    folder = tmp_path_factory.mktemp("store_images")
    for i, im in enumerate(generate(10, seed=3, size=64).images):
        to_pil(im).save(folder / f"img{i:02d}.png")
    return folder


@pytest.fixture(scope="module")
def model():
    from visioncircuits.zoo import load_model

    return load_model(MODEL)
