"""`visioncircuits activations --ray`: chunks harvested by Ray tasks equal a single-process store, byte for byte."""
from __future__ import annotations

import json

import pytest

from visioncircuits.cli import main
from visioncircuits.device import batch_invariant
from visioncircuits.distributed import RayConfig
from visioncircuits.distributed.activations import ray_harvest
from visioncircuits.store import harvest_activations

pytestmark = pytest.mark.ray


@pytest.mark.slow  # > 20 s on a busy 2-core machine (still runs in CI)
def test_activation_store_on_ray_equals_one_process(ray_cluster, photo_folder, small_model, tree, tmp_path, capsys):
    model = small_model()
    kw = dict(positions=5, seed=2, chunk_images=3, batch_size=2)
    with batch_invariant():
        one = harvest_activations(model, "relu2", photo_folder, tmp_path / "one", progress=False, **kw)
        par = ray_harvest(model, "relu2", photo_folder, tmp_path / "ray", RayConfig(shards=2, progress=False), **kw)
    assert one.complete and par.complete and par.written == one.written == [0, 1, 2, 3]
    a, b = tree(tmp_path / "one"), tree(tmp_path / "ray")
    a.pop(".lock", None), b.pop(".lock", None)
    assert a == b and len([f for f in a if f.startswith("chunks/")]) == 4  # chunks and manifest
    assert json.loads(b["manifest.json"])["rows"] == 11 * 5


def test_activations_cli_ray_resumes(ray_cluster, tmp_path, capsys):
    from visioncircuits.data import to_pil
    from visioncircuits.toyworld import generate

    photos = tmp_path / "photos"
    photos.mkdir()
    for i, im in enumerate(generate(4, seed=3, size=64).images):
        to_pil(im).save(photos / f"img{i}.png")
    argv = ["activations", "toy-narrow-s0", "relu2", "--dataset", str(photos), "--out", str(tmp_path / "s"),
            "--positions", "2", "--chunk-size", "2", "--no-progress", "--ray"]
    assert main(argv) == 0 and "2 chunks written" in capsys.readouterr().out
    assert main(argv) == 0 and "0 chunks written, 2 already finished" in capsys.readouterr().out
