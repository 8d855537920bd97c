"""Circuit graphs: structure, strengths that equal the weights, pruning and SAE nodes."""
from __future__ import annotations

import networkx as nx
import pytest
import torch

from visioncircuits.atomic import write_png
from visioncircuits.circuits.attribution import ActivationGradient
from visioncircuits.circuits.graph import build_circuit
from visioncircuits.circuits.prune import prune_graph, select
from visioncircuits.errors import InputError, UnknownNameError


def test_weights_circuit_of_a_logit_is_the_classifier_and_conv(tiny_model):
    g = build_circuit(tiny_model, "logit:0", depth=2, top_k=2)
    fc = tiny_model.net.fc.weight.detach()[0]
    conv2 = tiny_model.net.conv2.weight.detach()
    top = torch.argsort(fc.abs(), descending=True)[:2].tolist()
    assert sorted(u for u, v in g.in_edges("logit:0")) == sorted(f"relu2:{i}" for i in top)
    for i in top:
        e = g.edges[f"relu2:{i}", "logit:0"]
        assert e["strength"] == pytest.approx(float(fc[i]), abs=1e-5)
        assert e["sign"] == (1 if fc[i] > 0 else -1)
        for u, _ in g.in_edges(f"relu2:{i}"):
            j = g.nodes[u]["unit"]
            e2 = g.edges[u, f"relu2:{i}"]
            assert e2["strength"] == pytest.approx(float(conv2[i, j].sum()), abs=1e-5)
            assert torch.allclose(torch.tensor(e2["kernel"]), conv2[i, j], atol=1e-5)  # hover kernel
        strengths = conv2[i].sum((1, 2)).abs()
        kept = {g.nodes[u]["unit"] for u, _ in g.in_edges(f"relu2:{i}")}
        assert kept == set(torch.argsort(strengths, descending=True)[:2].tolist())
    assert g.nodes["logit:0"]["depth"] == 0 and all(g.nodes[n]["depth"] == 2 for n in g if n.startswith("relu1"))
    assert nx.is_directed_acyclic_graph(g)


def test_share_pruning_and_prune_graph(tiny_model):
    s = torch.tensor([0.1, -0.5, 0.3, 0.05, 0.05])
    assert select(s, 5)[:3] == [1, 2, 0] and len(select(s, 5)) == 5
    assert select(s, 5, share=0.5) == [1]
    assert select(s, 5, share=0.8) == [1, 2]
    assert select(s, 5, rank="positive")[:2] == [2, 0] and 1 not in select(s, 5, rank="positive")
    assert select(s, 5, rank="negative") == [1]
    g = build_circuit(tiny_model, "logit:1", depth=2, top_k=4)
    p = prune_graph(g, top_k=1)
    assert all(p.in_degree(n) <= 1 for n in p)
    assert p.number_of_edges() < g.number_of_edges()
    assert all(nx.has_path(p, n, "logit:1") for n in p)  # orphans removed


def test_attribution_circuit_uses_the_dataset(tiny_model):
    imgs = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with pytest.raises(InputError, match="needs a dataset"):
        build_circuit(tiny_model, "logit:0", method="attribution")
    g = build_circuit(tiny_model, "logit:0", depth=1, top_k=3, method="attribution", dataset=imgs)
    scores = ActivationGradient(tiny_model, "logit:0").attribute(imgs, "relu2")["relu2"]
    for u, _, e in g.in_edges("logit:0", data=True):
        assert e["strength"] == pytest.approx(float(scores[g.nodes[u]["unit"]]), abs=1e-6)
        assert "kernel" not in e
    acts = tiny_model.run_with_cache(imgs, ["relu2"])["relu2"].mean((2, 3))
    u = next(iter(g.predecessors("logit:0")))
    assert g.nodes[u]["act_mean"] == pytest.approx(float(acts[:, g.nodes[u]["unit"]].mean()), abs=1e-5)
    assert g.nodes[u]["act_max"] == pytest.approx(float(acts[:, g.nodes[u]["unit"]].max()), abs=1e-5)


def test_channel_target_labels_and_vis(tiny_model, tmp_path):
    write_png(tmp_path / "relu1_2.png", torch.rand(3, 8, 8))
    g = build_circuit(
        tiny_model, "relu2:3", depth=3, top_k=4, labels=lambda layer, i: f"{layer} feature {i}", vis=tmp_path
    )
    assert set(d["layer"] for _, d in g.nodes(data=True)) == {"relu2", "relu1"}  # depth cut at the first layer
    assert g.nodes["relu1:2"]["label"] == "relu1 feature 2"
    assert g.nodes["relu1:2"]["vis"].endswith("relu1_2.png") and g.nodes["relu2:3"]["vis"] == ""


def test_bad_arguments_are_clear(tiny_model):
    with pytest.raises(UnknownNameError, match="closest"):
        build_circuit(tiny_model, "logit:0", method="weight")
    with pytest.raises(InputError, match="top_k"):
        build_circuit(tiny_model, "logit:0", top_k=0)
    with pytest.raises(InputError, match="depth"):
        build_circuit(tiny_model, "logit:0", depth=0)
    with pytest.raises(InputError, match="out of range"):
        build_circuit(tiny_model, "logit:9")
    with pytest.raises(UnknownNameError):
        build_circuit(tiny_model, "logit:0", layers=["relu2", "nope"])
    assert tiny_model.hook_count() == 0


def test_sae_latents_as_nodes(tiny_model, tmp_path):
    from visioncircuits.sae.io import save_sae
    from visioncircuits.sae.models import SparseAutoencoder

    torch.manual_seed(0)
    sae = SparseAutoencoder(6, 8, "relu", cfg={"layer": "relu2", "model": "tiny"})
    save_sae(sae, tmp_path / "sae")
    d = str(tmp_path / "sae")
    g = build_circuit(tiny_model, "logit:2", depth=2, top_k=3, layers=[f"sae:{d}", "relu1"])
    want = (sae.W_dec.detach() / sae.input_scale) @ tiny_model.net.fc.weight.detach()[2]
    latents = [u for u, _ in g.in_edges("logit:2")]
    assert len(latents) == 3 and all(u.startswith(f"sae:{d}:") for u in latents)
    for u in latents:
        assert g.edges[u, "logit:2"]["strength"] == pytest.approx(float(want[g.nodes[u]["unit"]]), abs=1e-5)
        assert g.in_degree(u) == 3  # an SAE latent as an upper node reads relu1
    # and an SAE latent as the target
    g2 = build_circuit(tiny_model, f"sae:{d}:1", depth=1, top_k=2)
    assert g2.nodes[f"sae:{d}:1"]["depth"] == 0 and g2.in_degree(f"sae:{d}:1") == 2


def test_circuit_config_is_the_single_source(tiny_model):
    from visioncircuits.circuits import CircuitConfig

    cfg = CircuitConfig(depth=2, top_k=2)
    a = build_circuit(tiny_model, "logit:0", cfg)
    b = build_circuit(tiny_model, "logit:0", depth=2, top_k=2)
    c = build_circuit(tiny_model, "logit:0", cfg, top_k=1)
    assert sorted(a.edges) == sorted(b.edges) and a.number_of_edges() > c.number_of_edges()
    with pytest.raises(UnknownNameError):
        CircuitConfig(method="weight")
    with pytest.raises(TypeError, match="topk"):
        build_circuit(tiny_model, "logit:0", topk=2)
