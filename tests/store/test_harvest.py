"""The activation store holds exactly what run_with_cache gives, resumes and shards without changing a byte."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from visioncircuits.data import list_images, load_image
from visioncircuits.sae.models import flatten_positions
from visioncircuits.store import ActivationStore, harvest_activations
from visioncircuits.store import harvest as harvest_mod
from visioncircuits.zoo import load_model

from .conftest import LAYER, MODEL


def chunk_bytes(root: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted((root / "chunks").glob("*.safetensors"))}


def direct(model, image_dir) -> torch.Tensor:
    images = torch.stack([load_image(p, 64) for p in list_images(image_dir)])
    return model.run_with_cache(images, [LAYER])[LAYER]


def test_store_equals_run_with_cache(model, image_dir, tmp_path):
    res = harvest_activations(model, LAYER, image_dir, tmp_path / "s", chunk_images=3, batch_size=4, progress=False)
    assert res.complete and res.written == [0, 1, 2, 3]
    store = ActivationStore(tmp_path / "s")
    acts = direct(model, image_dir)
    assert len(store) == 10 * 32 * 32 and store.d == 32
    rows = torch.cat(list(store.iter_rows(1000)))
    torch.testing.assert_close(rows, flatten_positions(acts), rtol=1e-5, atol=1e-6)
    assert res.manifest["settings"]["weights"]["sha256"]  # the published toy weights are a local file


def test_random_positions_are_the_named_positions(model, image_dir, tmp_path):
    harvest_activations(model, LAYER, image_dir, tmp_path / "s", positions=7, seed=5, chunk_images=4,
                        progress=False)
    store = ActivationStore(tmp_path / "s")
    assert len(store) == 70
    acts = direct(model, image_dir)
    for i in range(len(store.chunks)):
        x = store.chunk(i)
        img, pos = store.chunk_meta(i)
        torch.testing.assert_close(x, acts[img, :, pos // 32, pos % 32], rtol=1e-5, atol=1e-6)
    # positions depend on (seed, image path) only: a different chunking picks the same rows
    harvest_activations(model, LAYER, image_dir, tmp_path / "t", positions=7, seed=5, chunk_images=10,
                        progress=False)
    other = ActivationStore(tmp_path / "t")
    torch.testing.assert_close(torch.cat(list(other.iter_rows())), torch.cat(list(store.iter_rows())))
    assert not torch.equal(store.chunk_meta(0)[1][:7], store.chunk_meta(0)[1][7:14])  # not the same positions per image


def test_resume_after_kill_gives_identical_chunks(model, image_dir, tmp_path, monkeypatch):
    harvest_activations(model, LAYER, image_dir, tmp_path / "ref", positions=9, chunk_images=2, progress=False)
    part = harvest_activations(model, LAYER, image_dir, tmp_path / "run", positions=9, chunk_images=2,
                               progress=False, max_chunks=1)
    assert part.written == [0] and not part.complete
    with pytest.raises(ValueError, match="incomplete"):
        ActivationStore(tmp_path / "run")
    real, calls = harvest_mod.write_chunk, []

    def dying(*args, **kwargs):  # the process "dies" while writing its third chunk
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(harvest_mod, "write_chunk", dying)
    with pytest.raises(KeyboardInterrupt):
        harvest_activations(model, LAYER, image_dir, tmp_path / "run", positions=9, chunk_images=2, progress=False)
    monkeypatch.setattr(harvest_mod, "write_chunk", real)
    res = harvest_activations(model, LAYER, image_dir, tmp_path / "run", positions=9, chunk_images=2, progress=False)
    assert res.reused == [0, 1, 2] and res.written == [3, 4] and res.complete
    assert chunk_bytes(tmp_path / "run") == chunk_bytes(tmp_path / "ref")
    assert not list((tmp_path / "run").rglob("*.tmp"))


def test_shards_make_one_run(model, image_dir, tmp_path):
    harvest_activations(model, LAYER, image_dir, tmp_path / "one", positions=4, chunk_images=2, progress=False)
    errors = []
    models = {k: load_model(MODEL) for k in (1, 2)}  # hooks live on modules: one model per thread

    def shard(k: int) -> None:
        try:
            harvest_activations(models[k], LAYER, image_dir, tmp_path / "two", positions=4, chunk_images=2,
                                shard=f"{k}/2", progress=False)
        except BaseException as e:  # noqa: BLE001 - surfaced below
            errors.append(e)

    threads = [threading.Thread(target=shard, args=(k,)) for k in (1, 2)]  # concurrently
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert chunk_bytes(tmp_path / "two") == chunk_bytes(tmp_path / "one")
    one, two = ActivationStore(tmp_path / "one"), ActivationStore(tmp_path / "two")
    assert two.manifest == one.manifest
    assert two.manifest["complete"] and len(two) == len(one) == 40
