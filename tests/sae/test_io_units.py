"""Save/load round trip, the on-disk format, clear errors, and SAE latents as units."""
from __future__ import annotations

import json

import pytest
import torch

from visioncircuits.errors import InputError, VisionCircuitsError, WeightsError
from visioncircuits.sae.io import load_sae, save_sae
from visioncircuits.sae.models import SparseAutoencoder, flatten_positions
from visioncircuits.sae.units import sae_latent_map
from visioncircuits.unit_activations import resolve_unit, unit_map, unit_value


def _trained_like(arch="topk", d_in=6, d_sae=24, k=3, seed=0):
    torch.manual_seed(seed)
    sae = SparseAutoencoder(d_in, d_sae, arch, k=k if arch != "relu" else None, cfg={"layer": "relu2", "model": "tiny"})
    with torch.no_grad():
        for p in sae.parameters():
            p.add_(0.1 * torch.randn_like(p))
        sae.input_scale.fill_(0.37)
        sae.threshold.fill_(0.05)
    return sae


@pytest.mark.parametrize("arch", ["topk", "batchtopk", "relu"])
def test_round_trip_bit_exact(tmp_path, arch):
    sae = _trained_like(arch)
    save_sae(sae, tmp_path / "s")
    back = load_sae(tmp_path / "s")
    for name in ("W_enc", "b_enc", "W_dec", "b_dec", "input_scale", "threshold"):
        assert torch.equal(getattr(back, name), getattr(sae, name)), name
    x = torch.randn(50, 6)
    sae.eval()
    assert torch.equal(back.encode(x), sae.encode(x))
    assert torch.equal(back(x), sae(x))
    assert back.cfg["architecture"] == arch and back.cfg["layer"] == "relu2"


def test_file_readable_with_plain_safetensors(tmp_path):
    from safetensors.torch import load_file

    save_sae(_trained_like(d_in=6, d_sae=24), tmp_path)
    t = load_file(str(tmp_path / "sae.safetensors"))
    assert t["W_enc"].shape == (6, 24) and t["b_enc"].shape == (24,)
    assert t["W_dec"].shape == (24, 6) and t["b_dec"].shape == (6,)
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    for key in ("architecture", "d_in", "d_sae", "k", "layer", "model", "input_scale"):
        assert key in cfg
    # The documented formula reproduces encode() with plain tensors.
    x = torch.randn(20, 6)
    pre = (x * cfg["input_scale"] - t["b_dec"]) @ t["W_enc"] + t["b_enc"]
    v, i = pre.topk(cfg["k"], dim=1)
    z = torch.zeros_like(pre).scatter(1, i, v.relu())
    assert torch.allclose(z, load_sae(tmp_path).encode(x), atol=1e-5)


def test_missing_and_corrupt_dirs_fail_clearly(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_sae(tmp_path / "nope")
    save_sae(_trained_like(), tmp_path / "a")
    (tmp_path / "a" / "sae.safetensors").write_bytes(b"garbage" * 10)
    with pytest.raises(WeightsError, match="corrupt or truncated"):
        load_sae(tmp_path / "a")
    save_sae(_trained_like(), tmp_path / "b")
    (tmp_path / "b" / "cfg.json").write_text("{not json")
    with pytest.raises(InputError, match="corrupt SAE config"):
        load_sae(tmp_path / "b")
    save_sae(_trained_like(), tmp_path / "c")
    cfg = json.loads((tmp_path / "c" / "cfg.json").read_text())
    cfg["d_sae"] = 99
    (tmp_path / "c" / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(WeightsError, match="shape"):
        load_sae(tmp_path / "c")
    (tmp_path / "d").mkdir()
    with pytest.raises(VisionCircuitsError, match="cfg.json not found"):
        load_sae(tmp_path / "d")


def test_latent_map_matches_encode_and_has_gradient():
    sae = _trained_like(d_in=6, d_sae=24, k=3).eval()
    acts = torch.randn(2, 6, 5, 4, requires_grad=True)
    z = sae.encode(flatten_positions(acts)).view(2, 5, 4, 24)
    for idx in range(24):
        m = sae_latent_map(sae, acts, idx)
        assert m.shape == (2, 5, 4)
        assert torch.allclose(m, z[..., idx], atol=1e-6)
    # A latent that is off at every position still gets a useful (pre-activation) gradient.
    off = [i for i in range(24) if (z[..., i] == 0).all()]
    assert off, "test setup: expected at least one latent off everywhere with k=3 of 24"
    sae_latent_map(sae, acts, off[0]).sum().backward()
    assert acts.grad is not None and acts.grad.abs().sum() > 0
    acts.grad = None
    sae_latent_map(sae, acts, off[0], mode="gated").sum().backward()
    assert acts.grad is None or acts.grad.abs().sum() == 0


def test_sae_unit_address_through_resolve_unit(tmp_path, tiny_model):
    save_sae(_trained_like(d_in=6), tmp_path / "s")
    unit = resolve_unit(tiny_model, f"sae:{tmp_path / 's'}:7")
    assert unit.layer == "relu2" and unit.index == 7
    images = torch.rand(3, 3, 16, 16)
    acts = tiny_model.run_with_cache(images, "relu2")["relu2"]
    ref = load_sae(tmp_path / "s").encode(flatten_positions(acts)).view(3, 16, 16, -1)[..., 7]
    assert torch.allclose(unit_map(unit, acts), ref, atol=1e-6)
    assert torch.allclose(unit_value(unit, acts), ref.mean(dim=(1, 2)), atol=1e-6)
    with pytest.raises(InputError, match="out of range"):
        resolve_unit(tiny_model, f"sae:{tmp_path / 's'}:24")
