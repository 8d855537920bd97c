"""Activation streams: crops of a folder, toy scenes, per-position samples, subsampling."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from PIL import Image

from visioncircuits.sae.models import flatten_positions, unflatten_positions
from visioncircuits.sae.stream import (
    ActivationStream,
    FolderSource,
    SampleStream,
    TensorSource,
    ToyWorldSource,
    split_folder,
)


def _folder(tmp_path, n=5):
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(tmp_path / f"im{i}.png")
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    return tmp_path


def test_folder_source_crops_flips_and_skips_unreadable(tmp_path):
    src = FolderSource(_folder(tmp_path), size=16, crops_per_image=3)
    batches = list(itertools.islice(src.batches(4), 6))  # 24 crops > 5 readable images: cycles
    assert all(b.shape == (4, 3, 16, 16) for b in batches)
    allc = torch.cat(batches)
    assert float(allc.min()) >= 0 and float(allc.max()) <= 1
    assert len({tuple(c.flatten()[:20].tolist()) for c in allc}) == len(allc)  # crops differ
    assert src.skipped == [str(tmp_path / "broken.jpg")]
    # Same seed and start -> same crops (a resumed run is reproducible); another start differs.
    again = next(FolderSource(tmp_path, size=16, crops_per_image=3).batches(4))
    assert torch.equal(again, batches[0])
    assert not torch.equal(next(FolderSource(tmp_path, size=16, crops_per_image=3).batches(4, start=7)), batches[0])


def test_split_folder_holds_out_every_fifth(tmp_path):
    for i in range(20):
        Image.new("RGB", (8, 8)).save(tmp_path / f"{i:02d}.png")
    train, held = split_folder(tmp_path)
    assert len(held) == 4 and len(train) == 16 and not set(train) & set(held)


def test_positions_flatten_round_trip():
    a = torch.randn(2, 5, 3, 4)
    flat = flatten_positions(a)
    assert flat.shape == (24, 5) and torch.equal(flat[7], a[0, :, 1, 3])
    assert torch.equal(unflatten_positions(flat, a.shape), a)


def test_activation_stream_samples_and_subsampling(tiny_model):
    images = torch.rand(12, 3, 16, 16)
    stream = ActivationStream(tiny_model, "relu2", TensorSource(images), image_batch=4, buffer=1000)
    b = next(stream.batches(100))
    assert b.shape == (100, 6)
    acts = flatten_positions(tiny_model.run_with_cache(images, "relu2")["relu2"])
    # every streamed sample is one real position's activation vector
    d = torch.cdist(b, acts, compute_mode="donot_use_mm_for_euclid_dist").min(1).values
    assert float(d.max()) < 1e-5
    sub = ActivationStream(tiny_model, "relu2", TensorSource(images), image_batch=4, positions=10)
    chunk = next(sub._samples(0))
    assert chunk.shape == (4 * 10, 6)


def test_sample_stream_cycles_and_shuffles():
    x = torch.arange(10.0)[:, None]
    got = torch.cat(list(itertools.islice(SampleStream(x).batches(5), 4)))
    assert sorted(got[:10].flatten().tolist()) == list(range(10))
    assert got[:10].flatten().tolist() != list(range(10))


def test_toyworld_source_feeds_a_model(tiny_model):
    pytest.importorskip("visioncircuits.toyworld")
    b = next(ToyWorldSource(size=16, seed=3).batches(2))
    assert b.shape == (2, 3, 16, 16)
    stream = ActivationStream(tiny_model, "relu1", ToyWorldSource(size=16), image_batch=2)
    assert next(stream.batches(64)).shape == (64, 4)


def test_toyworld_source_mixes_isolated_primitives():
    pytest.importorskip("visioncircuits.toyworld")
    from visioncircuits.errors import InputError

    src = ToyWorldSource(size=64, seed=3, isolated_fraction=0.25)
    b = next(src.batches(8))
    again = next(ToyWorldSource(size=64, seed=3, isolated_fraction=0.25).batches(8))
    plain = next(ToyWorldSource(size=64, seed=3).batches(8))
    assert b.shape == (8, 3, 64, 64) and 0 <= float(b.min()) and float(b.max()) <= 1
    assert torch.equal(b, again)  # deterministic (resume sees the same data)
    # the last quarter is isolated primitives
    assert torch.equal(b[:6], plain[:6]) and not torch.equal(b[6:], plain[6:])
    assert "isolated" in src.description
    with pytest.raises(InputError):
        ToyWorldSource(isolated_fraction=1.0)


def test_isolated_fraction_needs_the_toy_world(tiny_model, tmp_path):
    from visioncircuits.errors import InputError
    from visioncircuits.sae.pipeline import train_layer_sae
    from visioncircuits.sae.train import TrainConfig, _fingerprint

    with pytest.raises(InputError):
        train_layer_sae(tiny_model, "relu1", TrainConfig(d_sae=8, k=2, steps=1), tmp_path, dataset=tmp_path,
                        isolated_fraction=0.3)
    cfg, meta = TrainConfig(), {"layer": "relu1", "model": "m", "training_data": {"kind": "toyworld"}}
    mixed = {**meta, "training_data": {"kind": "toyworld", "isolated_fraction": 0.3}}
    assert "isolated_fraction" not in _fingerprint(cfg, meta) and _fingerprint(cfg, mixed) != _fingerprint(cfg, meta)
