"""A small toy-model atlas site, built once per session (fast settings, PCA layout)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from visioncircuits.atlas import AtlasConfig, build_atlas
from visioncircuits.featvis.config import RenderConfig

TOY = "toy-resnet-s0"
LAYERS = ("block1.relu2", "block2.relu2")


def small_config(**kw) -> AtlasConfig:
    base = dict(render=RenderConfig(steps=6, size=64, progress=False, batch_size=8), layers=LAYERS,
                units="0:3", k=2, diverse=0, negative=False, n_photos=40, grid=4, positions=4, min_count=1,
                atlas_patches=2, layout="pca", objective="neuron", neighbours=3)
    base.update(kw)
    return AtlasConfig(**base)


@pytest.fixture(scope="session")
def toy_model():
    from visioncircuits.zoo import load_model

    return load_model(TOY, device="cpu")


@pytest.fixture(scope="session")
def toy_photos(tmp_path_factory):
    """Generated toy photos outside any site, so a copied site keeps the same settings."""
    from visioncircuits.atlas.photos import toy_photos as make

    return make(tmp_path_factory.mktemp("toy_photos"), 40, 64)


@pytest.fixture(scope="session")
def toy_site(toy_model, toy_photos, tmp_path_factory):
    root = tmp_path_factory.mktemp("atlas")
    report = root / "report.json"  # a universality report matching two of the site's units
    report.write_text(json.dumps({"pairs": [{"a": "toy-vgg-s0", "b": TOY, "matching": {"matches": [
        {"unit_a": "relu3:7", "unit_b": "block2.relu2:1", "r": 0.91, "significant": True},
        {"unit_a": "relu3:2", "unit_b": "block2.relu2:1", "r": 0.42, "significant": False}]}}]}))
    res = build_atlas(toy_model, root / "site", small_config(), dataset=toy_photos, universality=[report])
    return root / "site", res


LINK = re.compile(r'(?:href|src)="([^"]+)"')


def local_targets(html: Path) -> list:
    """Every relative href/src of a page (no data: URIs, no fragments or queries)."""
    out = []
    for t in LINK.findall(html.read_text()):
        if t.startswith(("data:", "#", "http://", "https://")):
            continue
        out.append(t.split("#")[0].split("?")[0])
    return [t for t in out if t]


@pytest.fixture(scope="session")
def links_of():
    return local_targets


@pytest.fixture(scope="session")
def small_cfg():
    return small_config
