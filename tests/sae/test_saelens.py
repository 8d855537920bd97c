"""SAELens interop, both directions, checked against the real sae-lens package (installed by CI: `.[saelens]`).

Numbers: the same random activations give the same codes and reconstructions in the
visioncircuits SAE and in the one SAELens loads (export), and in a SAELens SAE and the
visioncircuits SAE imported from it (import).
"""
from __future__ import annotations

import json
import warnings

import pytest
import torch
from safetensors.torch import save_file

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import sae_lens  # hard import: CI installs the `saelens` extra, so these tests always run there
    from sae_lens import SAE, JumpReLUSAE, StandardSAE, StandardSAEConfig, TopKSAE, TopKSAEConfig

from visioncircuits.cli import main
from visioncircuits.sae.io import load_sae, save_sae
from visioncircuits.sae.models import SparseAutoencoder, flatten_positions
from visioncircuits.sae.saelens_format import export_saelens, import_saelens

pytestmark = [pytest.mark.saelens, pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

D_IN, D_SAE, K = 12, 48, 4
ATOL = 2e-5


def _ours(arch: str, seed: int = 0) -> SparseAutoencoder:
    """A visioncircuits SAE with non-trivial biases, input scale and threshold (as after training)."""
    torch.manual_seed(seed)
    sae = SparseAutoencoder(D_IN, D_SAE, arch, k=K if arch != "relu" else None,
                            cfg={"layer": "conv3", "model": "toy-narrow-s0", "metrics": {"l0": 4.0}})
    with torch.no_grad():
        sae.b_enc.normal_(0, 0.2)
        sae.b_dec.normal_(0, 0.5)
        sae.input_scale.fill_(0.37)
        if arch == "batchtopk":  # about half the latents above it on these inputs
            sae.threshold.fill_(float(sae.pre_activation(_acts()).clamp_min(0).median()))
    return sae.eval()


def _acts(n: int = 64, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 3 * torch.randn(n, D_IN, generator=g) + 1


def _same(ours: SparseAutoencoder, theirs, x: torch.Tensor) -> None:
    with torch.no_grad():
        z, z_theirs = ours.encode(x), theirs.encode(x)
        assert torch.equal(z > 0, z_theirs > 0)  # same active latents
        assert torch.allclose(z, z_theirs, atol=ATOL)
        assert torch.allclose(ours.decode(z), theirs.decode(z), atol=ATOL)
        assert torch.allclose(ours(x), theirs(x), atol=ATOL)


@pytest.mark.parametrize("arch, cls, saelens_arch", [("topk", TopKSAE, "topk"), ("relu", StandardSAE, "standard"),
                                                      ("batchtopk", JumpReLUSAE, "jumprelu")])
def test_export_loads_in_saelens_with_the_same_numbers(tmp_path, arch, cls, saelens_arch):
    ours = _ours(arch)
    export_saelens(ours, tmp_path / "x")
    theirs = SAE.load_from_disk(str(tmp_path / "x"))
    assert type(theirs) is cls and theirs.cfg.architecture() == saelens_arch
    assert (theirs.cfg.d_in, theirs.cfg.d_sae) == (D_IN, D_SAE)
    assert theirs.cfg.metadata.hook_name == "conv3" and theirs.cfg.metadata.model_name == "toy-narrow-s0"
    if arch == "topk":
        assert theirs.cfg.k == K
    x = _acts()
    _same(ours, theirs, x)
    z = ours.encode(x)
    if arch != "relu":
        assert 0 < float((z > 0).float().sum(1).mean()) <= D_SAE / 2  # the gate really is doing something
    # conv activations: SAELens takes channels last, (N, H, W, C); codes match ours position by position
    maps = torch.randn(2, D_IN, 3, 5)
    with torch.no_grad():
        channels_last = theirs.encode(maps.permute(0, 2, 3, 1)).reshape(-1, D_SAE)
        assert torch.allclose(channels_last, ours.encode(flatten_positions(maps)), atol=ATOL)


@pytest.mark.parametrize("arch", ["topk", "relu", "batchtopk"])
def test_export_then_import_gives_back_the_sae(tmp_path, arch):
    ours = _ours(arch)
    save_sae(ours, tmp_path / "a")
    assert main(["sae", "export", str(tmp_path / "a"), "--format", "saelens", "--out", str(tmp_path / "x")]) == 0
    assert main(["sae", "import", str(tmp_path / "x"), "--out", str(tmp_path / "b")]) == 0
    back = load_sae(tmp_path / "b")
    assert back.architecture == arch and back.k == ours.k
    assert (back.cfg.layer, back.cfg.model, back.cfg.metrics) == ("conv3", "toy-narrow-s0", {"l0": 4.0})
    assert back.cfg["imported_from"]["format"] == "saelens"
    for name in ("W_enc", "b_enc", "W_dec", "b_dec", "input_scale", "threshold"):
        assert torch.allclose(getattr(back, name), getattr(ours, name), atol=1e-6), name
    _same(ours, back, _acts())


def _saelens_sae(kind: str, seed: int = 0):
    """A SAELens SAE with random, non-normalised weights in the given variant."""
    torch.manual_seed(seed)
    if kind.startswith("topk"):
        sae = TopKSAE(TopKSAEConfig(d_in=D_IN, d_sae=D_SAE, k=K, apply_b_dec_to_input=kind != "topk-no-bdec-in",
                                    rescale_acts_by_decoder_norm=kind == "topk-rescaled"))
    else:
        sae = StandardSAE(StandardSAEConfig(d_in=D_IN, d_sae=D_SAE, apply_b_dec_to_input=kind != "standard-no-bdec-in"))
    with torch.no_grad():
        sae.W_dec.mul_(torch.rand(D_SAE, 1) * 2 + 0.2)  # decoder rows of different norms
        sae.W_enc.normal_(0, 0.3)
        sae.b_enc.normal_(0, 0.2)
        sae.b_dec.normal_(0, 0.5)
    return sae.eval()


@pytest.mark.parametrize("kind", ["topk", "topk-no-bdec-in", "topk-rescaled", "standard", "standard-no-bdec-in"])
def test_saelens_folders_import_with_the_same_numbers(tmp_path, kind):
    theirs = _saelens_sae(kind)
    theirs.cfg.metadata.hook_name = "layer3"
    theirs.save_model(str(tmp_path / "sl"))
    import_saelens(tmp_path / "sl", tmp_path / "ours", model="cifar10-resnet20")
    ours = load_sae(tmp_path / "ours")
    assert ours.architecture == ("topk" if kind.startswith("topk") else "relu")
    assert ours.cfg.layer == "layer3" and ours.cfg.model == "cifar10-resnet20"
    _same(ours, theirs, _acts())
    # and the imported SAE exports back to something SAELens computes the same with
    export_saelens(ours, tmp_path / "again")
    _same(ours, SAE.load_from_disk(str(tmp_path / "again")), _acts(seed=2))


def test_pre_6_flat_saelens_config_imports(tmp_path):
    """Older SAELens folders: flat cfg.json with hook_point and activation_fn_str/kwargs."""
    theirs = _saelens_sae("topk")
    d = tmp_path / "old"
    d.mkdir()
    save_file({k: v.contiguous() for k, v in theirs.state_dict().items()}, str(d / "sae_weights.safetensors"))
    (d / "cfg.json").write_text(json.dumps({
        "d_in": D_IN, "d_sae": D_SAE, "dtype": "float32", "device": "cpu", "model_name": "gpt2",
        "hook_point": "blocks.0.hook_resid_pre", "activation_fn_str": "topk", "activation_fn_kwargs": {"k": K},
        "apply_b_dec_to_input": True, "normalize_activations": False, "sae_lens_version": "3.0.0"}))
    reference = SAE.load_from_disk(str(d))  # SAELens's own reading of the old format
    assert isinstance(reference, TopKSAE)
    import_saelens(d, tmp_path / "ours")
    ours = load_sae(tmp_path / "ours")
    assert ours.architecture == "topk" and ours.k == K and ours.cfg.layer == "blocks.0.hook_resid_pre"
    _same(ours, reference, _acts())


def test_bad_conversions_are_one_line_and_write_nothing(tmp_path, capsys):
    ours = _ours("topk")
    save_sae(ours, tmp_path / "a")
    before = (tmp_path / "a" / "cfg.json").read_text()
    cases = [
        (["sae", "export", str(tmp_path / "a"), "--out", str(tmp_path / "a")], "refusing to write a SAELens SAE into"),
        (["sae", "export", str(tmp_path / "missing"), "--out", str(tmp_path / "x")], "no SAE at"),
        (["sae", "import", str(tmp_path / "a"), "--out", str(tmp_path / "y")], "it looks like a visioncircuits SAE"),
    ]
    # a jumprelu SAE with per-latent thresholds has no visioncircuits equivalent
    export_saelens(_ours("batchtopk"), tmp_path / "jr")
    from safetensors.torch import load_file
    t = load_file(str(tmp_path / "jr" / "sae_weights.safetensors"))
    t["threshold"] = torch.rand(D_SAE)
    save_file(t, str(tmp_path / "jr" / "sae_weights.safetensors"))
    cases.append((["sae", "import", str(tmp_path / "jr"), "--out", str(tmp_path / "z")], "one shared threshold"))
    # an architecture SAELens has but this package does not
    gated = tmp_path / "gated"
    sae_lens.GatedSAE(sae_lens.GatedSAEConfig(d_in=D_IN, d_sae=D_SAE)).save_model(str(gated))
    cases.append((["sae", "import", str(gated), "--out", str(tmp_path / "g")],
                  "architecture 'gated' cannot be imported"))
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and message in err and "\n" not in err, err
    assert (tmp_path / "a" / "cfg.json").read_text() == before
    assert not (tmp_path / "a" / "sae_weights.safetensors").exists()
    for out in ("x", "y", "z", "g"):
        assert not (tmp_path / out).exists()
