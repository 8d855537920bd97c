"""Shared fixtures: the ../shared folder (skip cleanly when absent), a temporary torch.hub
cache holding the real CIFAR weights, and tiny hooked models for fast tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]


def _shared_dir() -> Path:
    return Path(os.environ.get("VISIONCIRCUITS_SHARED", REPO.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    d = _shared_dir()
    if not (d / "weights").is_dir():
        pytest.skip(f"shared folder not found at {d} (set VISIONCIRCUITS_SHARED)")
    return d


@pytest.fixture(scope="session")
def sample_images_dir(shared_dir) -> Path:
    d = shared_dir / "data" / "imagenet-samples"
    if not d.is_dir():
        pytest.skip(f"sample images not found at {d}")
    return d


@pytest.fixture(scope="session")
def hub_cache(shared_dir, tmp_path_factory):
    """A temporary TORCH_HOME whose hub checkpoint dir holds the shared CIFAR weights (symlinks),
    so the real published-weights path runs with no network."""
    home = tmp_path_factory.mktemp("torch_home")
    ckpt = home / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    for f in (shared_dir / "weights").iterdir():
        (ckpt / f.name).symlink_to(f)
    old_env, old_dir = os.environ.get("TORCH_HOME"), torch.hub.get_dir()
    os.environ["TORCH_HOME"] = str(home)
    torch.hub.set_dir(str(home / "hub"))
    yield ckpt
    torch.hub.set_dir(old_dir)
    if old_env is None:
        os.environ.pop("TORCH_HOME", None)
    else:
        os.environ["TORCH_HOME"] = old_env


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """An empty torch.hub cache and no network: published weights must fail clearly."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("VISIONCIRCUITS_OFFLINE", "1")
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub" / "checkpoints"
    torch.hub.set_dir(old)


class TinyNet(nn.Module):
    """conv(3->4) relu conv(4->6) relu pool linear(6->3): small enough for any test."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        x = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        return self.fc(self.flatten(self.pool(x)))


def make_tiny(seed: int = 0):
    from visioncircuits.hooks import HookedModel
    from visioncircuits.zoo.spec import ModelSpec

    torch.manual_seed(seed)
    spec = ModelSpec(name="tiny", family="test", description="tiny test net", build=TinyNet, input_size=16,
                     mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), num_classes=3, main_layers=("relu1", "relu2"))
    return HookedModel(TinyNet(), spec, spec.preprocess()).eval()


@pytest.fixture
def tiny_model():
    return make_tiny()
