"""One real local Ray cluster (127.0.0.1, 2 CPUs) for the whole session, and small picklable models.

Ray starts in ~10-20 s, so every test shares the session fixture. Models and task functions
defined in test modules are pickled by value (the workers cannot import test modules).
"""
from __future__ import annotations

import os
import signal
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

DRIVER_PID = os.getpid()


@pytest.fixture(scope="session")
def ray_cluster():
    import ray

    from visioncircuits.distributed.cluster import start_local

    start_local(2, _node_ip_address="127.0.0.1")  # retried: a busy machine can miss Ray's 30 s startup window
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.shutdown()


class KillOnce(nn.Module):
    """Identity, except that the first forward pass in a Ray worker SIGKILLs that worker.

    ``marker`` (a file) records that the kill happened, so the retried task runs through: a
    worker process dies mid-job exactly as when a node is lost or the OOM killer strikes.
    """

    def __init__(self, marker: str = ""):
        super().__init__()
        self.marker = marker

    def forward(self, x):
        if self.marker and os.getpid() != DRIVER_PID and not Path(self.marker).exists():
            Path(self.marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return x


def _small_model(marker: str = "", seed: int = 0, name: str = "small", widths: tuple = (4, 6)):
    """conv-relu-conv-relu-pool-linear on 16 px images (torch layers only, so it pickles)."""
    from visioncircuits.hooks import HookedModel

    torch.manual_seed(seed)
    c1, c2 = widths
    net = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, c1, 3, padding=1)), ("relu1", nn.ReLU()), ("kill", KillOnce(marker)),
        ("conv2", nn.Conv2d(c1, c2, 3, padding=1)), ("relu2", nn.ReLU()),
        ("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(c2, 3))]))
    return HookedModel.wrap(net, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), input_size=16, name=name,
                            main_layers=("relu1", "relu2"))


@pytest.fixture
def photo_folder(tmp_path):
    """11 random 20 px photos and one unreadable file."""
    rng = np.random.default_rng(3)
    d = tmp_path / "photos"
    d.mkdir()
    for i in range(11):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(d / f"p{i:02d}.png")
    (d / "p05_broken.png").write_bytes(b"\x89PNG broken")
    return d


def _tree(folder: Path) -> dict:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def small_model():
    """Factory: ``small_model(marker="")`` (a marker path makes the first worker forward pass SIGKILL it)."""
    return _small_model


@pytest.fixture
def tree():
    """``tree(folder)`` -> {relative path: bytes} of every file."""
    return _tree
