"""Universality with one Ray task per model pair equals the single-process report."""
from __future__ import annotations

import json

import pytest
import torch

from visioncircuits.device import batch_invariant
from visioncircuits.distributed import RayConfig
from visioncircuits.universality.compare import CompareConfig
from visioncircuits.universality.pipeline import ReportConfig, run_universality
from visioncircuits.universality.probes import TensorProbes

pytestmark = pytest.mark.ray


@pytest.mark.slow  # > 20 s on a busy 2-core machine (still runs in CI)
def test_universality_pairs_on_ray_equal_one_process(ray_cluster, small_model, tree, tmp_path):
    names = ["net-a", "net-b", "net-c"]
    models = {n: small_model(seed=i, name=n, widths=(4 + i, 6)) for i, n in enumerate(names)}
    nulls = {n: small_model(seed=10 + i, name=n, widths=(4 + i, 6)) for i, n in enumerate(names) if i}
    probes = TensorProbes(torch.rand(24, 3, 16, 16, generator=torch.Generator().manual_seed(0)))
    opts = ReportConfig(top_pairs=2, featvis_steps=3, compare=CompareConfig(
        batch_size=8, grid=2, progress=False, top_examples=2, n_permutations=2, seed=4))
    with batch_invariant():
        one = run_universality(names, probes, tmp_path / "one", models=models, null_models=nulls, options=opts)
    with batch_invariant():
        par = run_universality(names, probes, tmp_path / "ray", models=models, null_models=nulls, options=opts,
                               ray=RayConfig(progress=False))
    a, b = (json.loads((tmp_path / d / "report.json").read_text()) for d in ("one", "ray"))
    assert len(a["pairs"]) == 3 and a["pairs"][2]["null"]["permuted_images"]["n"] > 0
    a.pop("seconds"), b.pop("seconds")  # the only field allowed to differ: wall time
    assert a == b
    for key in one["_nulls"]:  # null samples (kept out of report.json) too
        for kind in ("permuted", "random"):
            x, y = one["_nulls"][key][kind], par["_nulls"][key][kind]
            assert (x is None and y is None) or (x == y).all()
    files_one, files_ray = tree(tmp_path / "one"), tree(tmp_path / "ray")
    for f in ("report.json", "report.html"):  # they hold the run's seconds
        files_one.pop(f), files_ray.pop(f)
    assert files_one == files_ray and any(f.startswith("vis/") for f in files_one)
