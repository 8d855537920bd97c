"""Neighbours by expanded weights on a net whose weights give the answer: in TinyNet, relu1 ->
relu2 is one conv, so the expanded weight of (relu2:r, relu1:c) is conv2's kernel [r, c]."""
from __future__ import annotations

import torch

from visioncircuits.atlas.neighbours import pair_weights, site_neighbours


def test_strengths_are_the_conv_kernels(tiny_model, tmp_path):
    w = tiny_model.net.conv2.weight.detach()  # (6, 4, 3, 3)
    e = pair_weights(tiny_model, "relu1", "relu2", [0, 1, 2, 3], [0, 5], 16, tmp_path, top=4)
    for i in [0, 5]:
        got = {x["unit"]: x["strength"] for x in e["up"][str(i)]}
        want = {f"relu1:{c}": float(w[i, c].sum()) for c in range(4)}
        assert got.keys() == want.keys()
        for k in want:
            assert abs(got[k] - want[k]) < 1e-4
        strengths = [abs(x["strength"]) for x in e["up"][str(i)]]
        assert strengths == sorted(strengths, reverse=True)
        top = e["up"][str(i)][0]
        c = int(top["unit"].split(":")[1])
        assert torch.allclose(torch.tensor(top["kernel"]), w[i, c], atol=1e-4)  # 3x3 kernel, uncropped
    down = {x["unit"]: x["strength"] for x in e["down"]["2"]}
    assert set(down) == {"relu2:0", "relu2:5"}
    assert abs(down["relu2:5"] - float(w[5, 2].sum())) < 1e-4


def test_cached_and_keyed_by_units(tiny_model, tmp_path):
    a = pair_weights(tiny_model, "relu1", "relu2", [0, 1], [0], 16, tmp_path, top=2)
    f = next(tmp_path.glob("*.json"))
    stamp = f.stat().st_mtime_ns
    assert pair_weights(tiny_model, "relu1", "relu2", [0, 1], [0], 16, tmp_path, top=2) == a
    assert f.stat().st_mtime_ns == stamp  # read, not recomputed
    b = pair_weights(tiny_model, "relu1", "relu2", [0, 1], [0, 1], 16, tmp_path, top=2)
    assert set(b["up"]) == {"0", "1"}  # other units: recomputed


def test_site_neighbours_link_both_ways(tiny_model, tmp_path):
    nb = site_neighbours(tiny_model, ["relu1", "relu2"], {"relu1": [0, 1, 2], "relu2": [3]}, 16, tmp_path, 3)
    assert {e["unit"] for e in nb["relu2:3"]["up"]} == {"relu1:0", "relu1:1", "relu1:2"}
    assert len(nb["relu2:3"]["up_all"]) == 3  # strongest of all 4 channels
    assert [e["unit"] for e in nb["relu1:1"]["down"]] == ["relu2:3"]
    assert nb["relu1:0"]["up"] == []  # first layer: nothing upstream on the site
