"""Training recovers planted dictionaries; the fast loss equals the textbook one; resume works."""
from __future__ import annotations

import pytest
import torch

from visioncircuits.sae.checkpoint import CHECKPOINT_FILE
from visioncircuits.sae.io import load_sae
from visioncircuits.sae.losses import step_loss
from visioncircuits.sae.metrics import reconstruction_metrics
from visioncircuits.sae.models import SparseAutoencoder
from visioncircuits.sae.stream import SampleStream
from visioncircuits.sae.train import TrainConfig, geometric_median, train_sae


def planted(n=20000, d=32, s=64, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    dic = torch.randn(s, d, generator=g)
    dic /= dic.norm(dim=1, keepdim=True)
    idx = torch.rand(n, s, generator=g).argsort(1)[:, :k]
    vals = torch.rand(n, k, generator=g) + 0.5
    x = torch.zeros(n, s).scatter(1, idx, vals) @ dic + 0.3
    return x * 4.0, dic  # arbitrary scale: the SAE must normalise it


def _recovery(sae, dic):
    w = sae.W_dec / sae.W_dec.norm(dim=1, keepdim=True)
    return (w @ dic.t()).max(0).values  # best cosine for each planted direction


@pytest.mark.parametrize("arch", ["topk", "batchtopk"])
def test_recovers_planted_dictionary(arch):
    x, dic = planted()
    cfg = TrainConfig(d_sae=128, k=3, architecture=arch, steps=250, batch_size=512, lr=3e-3, warmup_steps=20,
                      dead_after=5000)
    sae = train_sae(SampleStream(x), 32, cfg, progress=False)
    best = _recovery(sae, dic)
    assert (best > 0.95).float().mean() >= 0.9, best
    m = reconstruction_metrics(sae, x[:4000])
    assert m["explained_variance"] > 0.9
    assert m["l0"] <= 3.0 + 1e-6
    # Decoder rows stay unit norm and inputs are scaled to unit mean norm.
    assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(128), atol=1e-4)
    assert float((x * sae.input_scale).norm(dim=1).mean()) == pytest.approx(1.0, rel=0.05)


def test_relu_l1_learns_sparse_code():
    x, dic = planted(n=10000)
    cfg = TrainConfig(d_sae=128, k=None, architecture="relu", steps=250, batch_size=512, lr=3e-3, warmup_steps=20,
                      l1_coeff=0.03)
    sae = train_sae(SampleStream(x), 32, cfg, progress=False)
    m = reconstruction_metrics(sae, x[:4000])
    assert m["explained_variance"] > 0.85
    assert m["l0"] < 40  # far sparser than the 128 latents (an untrained ReLU SAE has ~64)
    assert (_recovery(sae, dic) > 0.9).float().mean() >= 0.8


@pytest.mark.parametrize("arch", ["topk", "batchtopk"])
def test_fast_loss_matches_dense_formula(arch):
    torch.manual_seed(1)
    sae = SparseAutoencoder(16, 64, arch, k=4).train()
    with torch.no_grad():
        sae.b_enc.normal_()
        sae.b_dec.normal_()
        sae.input_scale.fill_(0.7)
    x = torch.randn(32, 16)
    out = step_loss(sae, x, torch.zeros(64, dtype=torch.bool))
    out.loss.backward()
    fast = [p.grad.clone() for p in sae.parameters()]
    sae.zero_grad()
    xs = x * sae.input_scale
    z = sae.gate((xs - sae.b_dec) @ sae.W_enc + sae.b_enc, batch_topk=True)
    ref = ((z @ sae.W_dec + sae.b_dec) - xs).pow(2).sum(-1).mean()
    ref.backward()
    assert float(out.loss) == pytest.approx(float(ref), rel=1e-5)
    for a, p in zip(fast, sae.parameters()):
        assert torch.allclose(a, p.grad, atol=1e-5)


def test_aux_loss_only_with_dead_latents_and_gives_them_gradient():
    torch.manual_seed(2)
    sae = SparseAutoencoder(16, 64, "topk", k=2).train()
    x = torch.randn(64, 16)
    none = step_loss(sae, x, torch.zeros(64, dtype=torch.bool))
    assert float(none.aux) == 0.0
    dead = ~none.fired  # latents that did not fire in this batch
    out = step_loss(sae, x, dead, aux_k=8, aux_coeff=1.0)
    assert float(out.aux) > 0
    out.loss.backward()
    assert sae.W_enc.grad[:, dead].abs().sum() > 0  # dead latents get revived


def test_geometric_median_is_robust():
    x = torch.zeros(101, 2)
    x[:, 0] = torch.linspace(-1, 1, 101)
    x[:5] = 1000.0  # outliers drag the mean, not the median
    assert float(geometric_median(x).norm()) < 0.2
    assert float(x.mean(0).norm()) > 40


def test_resume_after_kill_continues_from_checkpoint(tmp_path):
    x, _ = planted(n=4000)
    cfg = TrainConfig(d_sae=64, k=3, steps=40, batch_size=256, checkpoint_every=10, warmup_steps=5)
    # "Kill" after 25 steps: the checkpoint of step 20 is on disk, nothing final yet.
    train_sae(SampleStream(x), 32, cfg, out_dir=tmp_path, progress=False, stop_after=25)
    assert (tmp_path / CHECKPOINT_FILE).exists() and not (tmp_path / "cfg.json").exists()
    import json

    from safetensors import safe_open

    with safe_open(str(tmp_path / CHECKPOINT_FILE), framework="pt") as f:
        assert json.loads(f.metadata()["state"])["step"] == 25
    calls = []

    class Counting(SampleStream):
        def batches(self, batch_size, start=0):
            calls.append(start)
            return super().batches(batch_size, start)

    sae = train_sae(Counting(x), 32, cfg, out_dir=tmp_path, progress=False)
    assert calls == [25]  # resumed at the checkpoint step, not from 0
    assert sae.cfg["training"]["steps_done"] == 40 and sae.cfg["training"]["finished"]
    assert not (tmp_path / CHECKPOINT_FILE).exists()
    back = load_sae(tmp_path)
    assert torch.equal(back.W_dec, sae.W_dec)


def test_resume_restores_exact_state(tmp_path):
    """Stopping at step 20 and resuming gives bit-identical weights to the uninterrupted run
    when the data order is the same (a stream that ignores the reseed)."""
    x, _ = planted(n=2000)

    class Fixed(SampleStream):
        def batches(self, batch_size, start=0):
            it = super().batches(batch_size, 0)
            for _ in range(start):
                next(it)
            return it

    cfg = TrainConfig(d_sae=64, k=3, steps=30, batch_size=200, checkpoint_every=10, warmup_steps=5)
    full = train_sae(Fixed(x), 32, cfg, progress=False)
    train_sae(Fixed(x), 32, cfg, out_dir=tmp_path, progress=False, stop_after=20)
    resumed = train_sae(Fixed(x), 32, cfg, out_dir=tmp_path, progress=False)
    assert torch.allclose(full.W_enc, resumed.W_enc, atol=1e-6)
    assert torch.allclose(full.W_dec, resumed.W_dec, atol=1e-6)


def test_finished_run_is_not_retrained(tmp_path):
    x, _ = planted(n=2000)
    cfg = TrainConfig(d_sae=32, k=2, steps=5, batch_size=100, warmup_steps=1)
    first = train_sae(SampleStream(x), 32, cfg, out_dir=tmp_path, progress=False)

    class Untouchable(SampleStream):
        def batches(self, *a, **k):
            raise AssertionError("a finished run must not read data again")

        sample = batches

    again = train_sae(Untouchable(x), 32, cfg, out_dir=tmp_path, progress=False)
    assert torch.equal(again.W_enc, first.W_enc)
    # Different settings retrain (and so read data) only when asked to overwrite (tests/sae/test_overwrite.py)
    with pytest.raises(AssertionError, match="must not read"):
        train_sae(Untouchable(x), 32, TrainConfig(d_sae=32, k=3, steps=5, batch_size=100), out_dir=tmp_path,
                  progress=False, overwrite=True)
