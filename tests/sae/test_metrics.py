"""Metrics on hand-computed cases; loss recovered is 1 for a perfect splice and 0 for zeros."""
from __future__ import annotations

import math

import pytest
import torch

from visioncircuits.sae.metrics import ReconstructionStats, evaluate_sae, reconstruction_metrics
from visioncircuits.sae.models import SparseAutoencoder


def test_reconstruction_stats_hand_computed():
    st = ReconstructionStats(3)
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    x_hat = torch.tensor([[1.0, 1.0], [3.0, 3.0]])
    z = torch.tensor([[0.0, 1.0, 0.0], [0.0, 2.0, 3.0]])
    # Split into two updates: the accumulation must equal the one-shot numbers.
    st.update(x[:1], x_hat[:1], z[:1])
    st.update(x[1:], x_hat[1:], z[1:])
    m = st.result()
    assert m["mse"] == pytest.approx(2 / 4)          # errors 0,1,0,1 over 4 entries
    assert m["nmse"] == pytest.approx(2 / 30)        # / (1 + 4 + 9 + 16)
    assert m["explained_variance"] == pytest.approx(1 - 2 / 4)  # centred: (1+1+1+1)
    assert m["l0"] == pytest.approx(1.5)
    assert m["dead_fraction"] == pytest.approx(1 / 3)  # latent 0 never fires
    assert m["samples"] == 2


def _identity_sae(d: int) -> SparseAutoencoder:
    sae = SparseAutoencoder(d, d, "relu")
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(d))
        sae.W_dec.copy_(torch.eye(d))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae.eval()


def test_reconstruction_metrics_perfect_and_dead_counting():
    x = torch.rand(50, 6) + 0.1
    m = reconstruction_metrics(_identity_sae(6), x, batch_size=7)
    assert m["mse"] == pytest.approx(0, abs=1e-12) and m["explained_variance"] == pytest.approx(1.0)
    assert m["l0"] == pytest.approx(6) and m["dead_fraction"] == 0
    x[:, 2] = 0  # channel 2 is never active -> latent 2 never fires
    assert reconstruction_metrics(_identity_sae(6), x)["dead_fraction"] == pytest.approx(1 / 6)
    # (N, C, H, W) input counts every position as a sample.
    assert reconstruction_metrics(_identity_sae(6), torch.rand(2, 6, 3, 4))["samples"] == 24


def _batches(n=3, labels=True):
    g = torch.Generator().manual_seed(0)
    for _ in range(n):
        yield torch.rand(4, 3, 16, 16, generator=g), (torch.randint(0, 3, (4,), generator=g) if labels else None)


@pytest.mark.parametrize("labels", [True, False])
def test_loss_recovered_perfect_is_one_zero_is_zero(tiny_model, labels):
    perfect = _identity_sae(6)  # relu2 is non-negative, so the identity ReLU SAE is exact
    m = evaluate_sae(tiny_model, perfect, _batches(labels=labels), layer="relu2", progress=False)
    assert m["loss_recovered"] == pytest.approx(1.0, abs=1e-5)
    assert m["loss_sae"] == pytest.approx(m["loss_clean"], abs=1e-6)
    assert m["loss_kind"] == ("cross_entropy" if labels else "kl_to_clean")
    if not labels:
        assert m["loss_clean"] == 0
    zero = _identity_sae(6)
    with torch.no_grad():
        zero.W_dec.zero_()
    m = evaluate_sae(tiny_model, zero, _batches(labels=labels), layer="relu2", progress=False)
    assert m["loss_recovered"] == pytest.approx(0.0, abs=1e-5)
    assert m["loss_zero"] != pytest.approx(m["loss_clean"])  # the gap is real, so the ratio means something
    half = _identity_sae(6)
    with torch.no_grad():
        half.W_dec.mul_(0.5)
    r = evaluate_sae(tiny_model, half, _batches(labels=labels), layer="relu2", progress=False)["loss_recovered"]
    assert not math.isclose(r, 1.0, abs_tol=1e-3) and not math.isclose(r, 0.0, abs_tol=1e-3)
    assert tiny_model.hook_count() == 0  # splices are removed
