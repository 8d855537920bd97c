"""The streaming comparison on models with a known answer: a channel-permuted copy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from visioncircuits.errors import InputError, VisionCircuitsError
from visioncircuits.units import Unit
from visioncircuits.universality.compare import CompareConfig, cka_matrices, compare
from visioncircuits.universality.probes import (
    FolderProbes,
    TensorProbes,
    reduce_activation,
    resolve_layers,
    stimulus_transfer,
    stream_activations,
    unit_values,
)


def _probes(n=48, size=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return TensorProbes(torch.rand(n, 3, size, size, generator=g))


def test_stream_one_forward_per_batch_resized_and_stops_early(model_pair):
    a, _, _, _, c = model_pair
    a.layer_info(), c.layer_info()  # the shape trace is a forward of its own; do it first
    seen = {"a": [], "c": [], "fc": 0}
    a.net.conv1.register_forward_hook(lambda m, i, o: seen["a"].append(tuple(i[0].shape)))
    c.net.conv1.register_forward_hook(lambda m, i, o: seen["c"].append(tuple(i[0].shape)))
    a.net.fc.register_forward_hook(lambda m, i, o: seen.__setitem__("fc", seen["fc"] + 1))
    probes = _probes(20, size=24)
    outs = list(stream_activations({"a": a, "c": c}, {"a": ["relu1", "relu2"], "c": ["relu2"]},
                                   (x for _, x in probes.batches(8)), mode="pool", progress=False))
    assert len(outs) == 3
    assert seen["a"] == [(8, 3, 16, 16), (8, 3, 16, 16), (4, 3, 16, 16)]  # its own input size
    assert seen["c"] == [(8, 3, 20, 20), (8, 3, 20, 20), (4, 3, 20, 20)]
    assert seen["fc"] == 0  # forward stopped after the deepest requested layer
    assert outs[0]["a"]["relu1"].shape == (8, 4) and outs[0]["c"]["relu2"].shape == (8, 7)


def test_reduce_activation_modes():
    act = torch.arange(2 * 3 * 16 * 16, dtype=torch.float32).reshape(2, 3, 16, 16)
    assert reduce_activation(act, "flatten").shape == (2, 768)
    assert torch.allclose(reduce_activation(act, "pool"), act.mean(dim=(2, 3)))
    g = reduce_activation(act, "grid", 4)
    assert g.shape == (2, 3, 4, 4) and torch.allclose(g.mean(dim=(2, 3)), act.mean(dim=(2, 3)))
    assert reduce_activation(act[:, :, :2, :2], "grid", 4).shape == (2, 3, 4, 4)  # upsampled
    assert reduce_activation(torch.ones(2, 5), "grid", 3).shape == (2, 5, 3, 3)  # linear layer
    with pytest.raises(InputError, match="spatial mode"):
        reduce_activation(act, "mean")


def test_permuted_copy_is_recovered_exactly(model_pair):
    a, b, p1, p2, _ = model_pair
    torch.manual_seed(3)
    b_random = type(b)(b.net.__class__(), b.spec, b.spec.preprocess()).eval()
    res = compare(
        {"a": a, "b": b},
        {"a": ["relu1", "relu2"], "b": ["relu1", "relu2"]},
        _probes(),
        null_models={"b": b_random},
        settings=CompareConfig(batch_size=16, grid=4, progress=False, top_examples=3),
    )
    pr = res.pairs[0]
    np.testing.assert_allclose(np.diag(pr.cka), 1.0, atol=1e-6)
    assert pr.cka[0, 1] < 0.99
    units_a, units_b = res.units["a"], res.units["b"]
    expected = {f"relu1:{int(p1[j])}": f"relu1:{j}" for j in range(4)}
    expected.update({f"relu2:{int(p2[j])}": f"relu2:{j}" for j in range(6)})
    live = [m for m in pr.matches if m.a not in pr.dead_a]
    assert live and all(m.r == pytest.approx(1.0, abs=1e-5) for m in live)
    assert {str(units_a[m.a]): str(units_b[m.b]) for m in live} == {
        k: v for k, v in expected.items() if k in {str(units_a[m.a]) for m in live}
    }
    # every live match beats both nulls
    assert pr.significant[: len(live)].all()
    assert pr.null_permuted.max() < 0.99 and pr.random_best is not None
    # top dataset examples are the images where the unit is strongest, equal across the copy
    m = live[0]
    assert list(res.top_indices["a"][m.a]) == list(res.top_indices["b"][m.b])
    assert res.n_images == 48


def test_compare_and_cka_input_errors(model_pair):
    a, b, *_ = model_pair
    with pytest.raises(InputError, match="at least two"):
        compare({"a": a}, {"a": ["relu1"]}, _probes())
    with pytest.raises(InputError, match="at least 4"):
        compare({"a": a, "b": b}, {"a": ["relu1"], "b": ["relu1"]}, _probes(), settings=CompareConfig(batch_size=2))
    with pytest.raises(VisionCircuitsError, match="closest"):
        resolve_layers(a, ["relu3"])
    with pytest.raises(InputError, match="image folder not found"):
        FolderProbes("/nonexistent/folder", 32)
    accs = cka_matrices(
        {"a": a, "b": b}, {"a": ["relu1", "relu2"], "b": ["relu2"]}, _probes(10), batch_size=4, progress=False
    )
    acc = accs[("a", "b")]
    assert acc.examples == 8 and acc.skipped_examples == 2  # the last batch of 2 has no unbiased estimate
    assert acc.result()[1, 0] == pytest.approx(1.0)


def test_folder_probes_skip_unreadable(tmp_path):
    from PIL import Image

    for i in range(3):
        Image.new("RGB", (40, 30), (i * 60, 10, 10)).save(tmp_path / f"img{i}.png")
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    probes = FolderProbes(tmp_path, 16)
    batches = list(probes.batches(2))
    got = [i for idx, _ in batches for i in idx]
    assert len(got) == 3 and probes.skipped == [str(tmp_path / "broken.jpg")]
    assert batches[0][1].shape == (2, 3, 16, 16)
    assert torch.equal(probes.images([got[-1]])[0], batches[-1][1][-1])


def test_stimulus_transfer_known_answers(model_pair):
    a, b, p1, p2, _ = model_pair
    pairs = [(Unit("relu2", int(p2[j])), Unit("relu2", j)) for j in range(3)]
    g = torch.Generator().manual_seed(1)
    vis = torch.rand(3, 3, 16, 16, generator=g)
    same = stimulus_transfer(a, b, pairs, vis, vis.clone())
    for s in same:  # B is A relabelled: A's picture drives B's unit exactly as B's own
        assert s.b_on_vis_a == pytest.approx(s.b_on_vis_b)
        if s.transfer_ab is not None:
            assert s.transfer_ab == pytest.approx(1.0)
    grey = torch.full_like(vis, 0.5)
    vb = unit_values(b, [p[1] for p in pairs], vis)
    other = stimulus_transfer(a, b, pairs, grey, vis, baseline_b=[0.0] * 3)
    for j, s in enumerate(other):
        assert s.b_on_vis_b == pytest.approx(float(vb[j, j]), rel=1e-5)
        assert s.b_on_vis_a == pytest.approx(float(unit_values(b, [pairs[j][1]], grey[:1])[0, 0]), rel=1e-5)
    with pytest.raises(InputError, match="one visualisation per pair"):
        stimulus_transfer(a, b, pairs, vis[:2], vis)


def _permutation_sae(tmp_path, q):
    """A ReLU SAE on relu2 (6 channels) whose latent j is exactly channel q[j] (relu2 >= 0)."""
    from visioncircuits.sae.io import save_sae
    from visioncircuits.sae.models import SparseAutoencoder

    sae = SparseAutoencoder(6, 6, architecture="relu", cfg={"layer": "relu2", "model": "net-a"})
    eye = torch.eye(6)[:, q]  # W_enc[:, j] picks channel q[j]
    with torch.no_grad():
        sae.W_enc.copy_(eye)
        sae.W_dec.copy_(eye.T)
    return str(save_sae(sae, tmp_path / "sae"))


def test_sae_latents_are_units_of_universality(model_pair, tmp_path):
    """An SAE layer of A is compared with B's channels and with A's own earlier layer: latent j
    (= A's channel q[j]) matches B's channel p2^-1(q[j]) with r = 1, as the construction says."""
    a, b, p1, p2, _ = model_pair
    q = [3, 5, 0, 1, 4, 2]
    sae_dir = _permutation_sae(tmp_path, q)
    layers_a = resolve_layers(a, ["relu1", f"sae:{sae_dir}"])
    assert layers_a == ["relu1", f"sae:{sae_dir}"]
    res = compare({"a": a, "b": b}, {"a": layers_a, "b": ["relu2"]}, _probes(),
                  settings=CompareConfig(batch_size=16, progress=False, n_permutations=2))
    units_a, units_b = res.units["a"], res.units["b"]
    assert [u.kind for u in units_a] == ["channel"] * 4 + ["sae"] * 6
    assert str(units_a[4]) == f"sae:{sae_dir}:0"
    pr = res.pairs[0]
    inv = {int(p2[i]): i for i in range(6)}  # A's channel c is B's channel inv[c]
    sae_matches = [m for m in pr.matches if units_a[m.a].kind == "sae" and m.a not in pr.dead_a]
    assert sae_matches
    for m in sae_matches:
        j = units_a[m.a].index
        assert units_b[m.b] == Unit("relu2", inv[q[j]]) and m.r == pytest.approx(1.0, abs=1e-5)
    # stimulus transfer takes SAE latents too: latent j on a picture = B's matching channel on it
    vis = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    lat = unit_values(a, [f"sae:{sae_dir}:{j}" for j in range(6)], vis)
    chan = unit_values(b, [Unit("relu2", inv[q[j]]) for j in range(6)], vis)
    assert torch.allclose(lat, chan, atol=1e-5)
