"""Galleries and dataset examples on a real local Ray cluster equal single-process runs, byte for byte,
also when a worker is SIGKILLed mid-job."""
from __future__ import annotations

import json

import pytest
import torch

from visioncircuits.device import batch_invariant
from visioncircuits.distributed import RayConfig
from visioncircuits.distributed.examples import ray_dataset_examples
from visioncircuits.distributed.gallery import ray_gallery
from visioncircuits.featvis.dataset_examples import dataset_examples
from visioncircuits.featvis.gallery import build_gallery

pytestmark = pytest.mark.ray

SETTINGS = dict(units="0:6", steps=4, size=16, k=2, negative=True, seed=3, batch_size=4)


def _single(model, out, folder):
    with batch_invariant():  # one thread, oneDNN off: float sums independent of batching
        return build_gallery(model, "relu2", out, dataset=folder, progress=False, **SETTINGS)


def test_dataset_examples_on_ray_equal_one_process(ray_cluster, photo_folder, small_model):
    model = small_model()
    units = ["relu1:0", "relu2:1", "relu2:5", "relu2:2@3,4"]
    with batch_invariant():
        ref = dataset_examples(model, units, photo_folder, k=3, batch_size=2, progress=False)
    with batch_invariant():
        got = ray_dataset_examples(model, units, photo_folder, RayConfig(shards=3, progress=False), k=3,
                                   batch_size=2)
    assert got.n_images == ref.n_images == 11 and got.skipped == ref.skipped and len(got.skipped) == 1
    for a, b in zip(ref.units, got.units):
        assert a.unit == b.unit and a.stats == b.stats
        assert [(e.path, e.value, e.y, e.x) for e in a.top] == [(e.path, e.value, e.y, e.x) for e in b.top]
        assert all(torch.equal(e.crop, f.crop) for e, f in zip(a.top, b.top))


def test_gallery_on_ray_equals_one_process(ray_cluster, photo_folder, tmp_path, small_model, tree):
    model = small_model()
    ref = _single(model, tmp_path / "one", photo_folder)
    with batch_invariant():  # on the driver; the tasks copy its numeric mode
        res = ray_gallery(model, "relu2", tmp_path / "ray", dataset=photo_folder, progress=False,
                          ray=RayConfig(shards=3, progress=False), **SETTINGS)
    assert res.rendered == ref.rendered == list(range(6)) and res.total_finished == 6
    assert tree(tmp_path / "ray") == tree(tmp_path / "one")  # PNGs, unit.json, gallery.json, index.html
    again = ray_gallery(model, "relu2", tmp_path / "ray", dataset=photo_folder, progress=False,
                        ray=RayConfig(shards=3, progress=False), **SETTINGS)
    assert again.rendered == [] and again.skipped == list(range(6))  # resumable: nothing redone


def test_gallery_survives_a_killed_worker(ray_cluster, photo_folder, tmp_path, small_model, tree):
    marker = tmp_path / "killed.pid"
    ref = _single(small_model(), tmp_path / "one", photo_folder)
    with batch_invariant():
        res = ray_gallery(small_model(str(marker)), "relu2", tmp_path / "ray", dataset=photo_folder,
                          progress=False, ray=RayConfig(shards=2, max_retries=2, progress=False), **SETTINGS)
    assert marker.exists(), "no worker was killed: the test did not test recovery"
    assert res.total_finished == 6 and res.rendered == ref.rendered
    assert tree(tmp_path / "ray") == tree(tmp_path / "one")
    man = json.loads((tmp_path / "ray" / "gallery.json").read_text())
    assert [u["index"] for u in man["units"]] == list(range(6))


def test_gallery_cli_with_ray(ray_cluster, tmp_path, capsys):
    from visioncircuits.cli import main

    argv = ["gallery", "toy-resnet-s0", "block1.relu2", "--units", "0:3", "--steps", "2", "--size", "32",
            "--out", str(tmp_path / "g"), "--ray", "--ray-shards", "2"]
    assert main(argv) == 0 and "rendered 3 units, 0 already done" in capsys.readouterr().out
    man = json.loads((tmp_path / "g" / "gallery.json").read_text())
    assert [u["index"] for u in man["units"]] == [0, 1, 2] and (tmp_path / "g" / "index.html").exists()
