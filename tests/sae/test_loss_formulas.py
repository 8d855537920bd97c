"""The SAE losses against their textbook formulas, on tensors small enough to do by hand.

Every expected number below was worked out on paper from the formula, not by the code:

* TopK + AuxK (Gao et al. 2024, "Scaling and evaluating sparse autoencoders"):
  ``L = ||x - x_hat||^2 + alpha * L_aux`` with ``L_aux`` the squared error of the residual
  ``e = x - x_hat`` reconstructed by the top-``k_aux`` *dead* latents alone
  (``e_hat = sum_j relu(pre_j) W_dec[j]``, no decoder bias). As ``sae/losses.py`` documents, the
  code divides ``L_aux`` by the residual's variance over the batch (``mean ||e - mean(e)||^2``,
  the normalised MSE of OpenAI's reference code) so its scale does not shrink as the SAE learns.
* ReLU + L1, as the code claims (Anthropic's "April update" 2024):
  ``L = ||x - x_hat||^2 + lambda * sum_i f_i ||W_dec[i]||`` (squared L2 per sample, mean over samples).
"""

from __future__ import annotations

import pytest
import torch

from visioncircuits.sae.losses import relu_l1_loss, step_loss
from visioncircuits.sae.models import SparseAutoencoder


def _set(sae, W_enc, b_enc, W_dec, b_dec):
    with torch.no_grad():
        sae.W_enc.copy_(torch.tensor(W_enc))
        sae.b_enc.copy_(torch.tensor(b_enc))
        sae.W_dec.copy_(torch.tensor(W_dec))
        sae.b_dec.copy_(torch.tensor(b_dec))
        sae.input_scale.fill_(1.0)
    return sae


@pytest.fixture
def topk_sae():
    # pre = x @ W_enc: latent 2 responds to x0 + x1 (half each), latent 3 to -x0 + 0.9 x1
    sae = SparseAutoencoder(2, 4, "topk", k=1)
    return _set(
        sae,
        [[1.0, 0.0, 0.5, -1.0], [0.0, 1.0, 0.5, 0.9]],
        [0.0] * 4,
        [[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [0.8, -0.6]],
        [0.0, 0.0],
    )


X = torch.tensor([[3.0, 1.0], [0.0, 2.0]])
# By hand: pre = [[3, 1, 2, -2.1], [0, 2, 1, 1.8]]; top-1: latent 0 (3) and latent 1 (2)
# x_hat = [[3, 0], [0, 2]]; e = x - x_hat = [[0, 1], [0, 0]]; recon = (1 + 0) / 2 = 0.5
# residual variance: mean(e) = [0, 0.5], mean ||e - mean(e)||^2 = (0.25 + 0.25) / 2 = 0.25


def test_topk_reconstruction_is_squared_error(topk_sae):
    out = step_loss(topk_sae, X, torch.zeros(4, dtype=torch.bool), aux_k=1, aux_coeff=1 / 32)
    assert float(out.recon) == pytest.approx(0.5)
    assert float(out.aux) == 0.0  # no dead latents: no auxiliary term
    assert float(out.loss.detach()) == pytest.approx(0.5)
    assert out.l0 == pytest.approx(1.0)
    assert out.fired.tolist() == [True, True, False, False]
    assert torch.allclose(out.x_hat, torch.tensor([[3.0, 0.0], [0.0, 2.0]]))


def test_auxk_one_dead_latent(topk_sae):
    # dead = {2}: e_hat = relu(pre_2) W_dec[2] = [[1.2, 1.6], [0.6, 0.8]]
    # ||e_hat - e||^2 = [1.44 + 0.36, 0.36 + 0.64] = [1.8, 1.0] -> mean 1.4 -> / 0.25 = 5.6
    dead = torch.tensor([False, False, True, False])
    out = step_loss(topk_sae, X, dead, aux_k=1, aux_coeff=1 / 32)
    assert float(out.aux) == pytest.approx(5.6, rel=1e-5)
    assert float(out.loss.detach()) == pytest.approx(0.5 + 5.6 / 32, rel=1e-5)
    # a latent that fired in this batch is not dead, even if flagged: same answer
    out2 = step_loss(topk_sae, X, torch.tensor([True, False, True, False]), aux_k=1, aux_coeff=1 / 32)
    assert float(out2.aux) == pytest.approx(5.6, rel=1e-5)


def test_auxk_picks_the_top_kaux_dead_latents_per_sample(topk_sae):
    dead = torch.tensor([False, False, True, True])
    # k_aux = 1: sample 0 takes latent 2 (2 > -2.1), sample 1 latent 3 (1.8 > 1)
    # e_hat = [[1.2, 1.6], [1.44, -1.08]]; errors [1.8, 1.44^2 + 1.08^2 = 3.24] -> 2.52 / 0.25 = 10.08
    one = step_loss(topk_sae, X, dead, aux_k=1, aux_coeff=1.0)
    assert float(one.aux) == pytest.approx(10.08, rel=1e-5)
    # k_aux = 2: sample 0 adds latent 3 at relu(-2.1) = 0; sample 1 adds latent 2 at 1
    # e_hat[1] = [2.04, -0.28]: error 4.1616 + 0.0784 = 4.24 -> (1.8 + 4.24) / 2 / 0.25 = 12.08
    two = step_loss(topk_sae, X, dead, aux_k=2, aux_coeff=1.0)
    assert float(two.aux) == pytest.approx(12.08, rel=1e-5)
    assert float(two.loss.detach()) == pytest.approx(0.5 + 12.08, rel=1e-5)


def test_auxk_gradient_reaches_only_the_dead_latents(topk_sae):
    dead = torch.tensor([False, False, True, False])
    out = step_loss(topk_sae, X, dead, aux_k=1, aux_coeff=1.0)
    g_aux = torch.autograd.grad(out.loss, topk_sae.W_enc)[0]
    # d/dW_enc[:, 2] of mean_b ||relu(pre_b2) w2 - e_b||^2 / 0.25, with pre_b2 = x_b . W_enc[:, 2]:
    # 2 (pre_b2 w2 - e_b) . w2 x_b / 2 / 0.25 summed over b; sample 0: (2 - 0.8) = 1.2 -> 1.2 x0
    # sample 1: (1 - 0) = 1 -> x1; grad = 2 * (1.2 [3, 1] + 1 [0, 2]) / 2 / 0.25 = [14.4, 12.8]
    assert torch.allclose(g_aux[:, 2], torch.tensor([14.4, 12.8]), rtol=1e-5)
    assert torch.all(g_aux[:, 3] == 0)


def test_relu_l1_is_mse_plus_decoder_norm_weighted_l1():
    sae = _set(
        SparseAutoencoder(2, 2, "relu"), [[1.0, 0.0], [0.0, 1.0]], [0.0, -1.0], [[2.0, 0.0], [0.0, 0.5]], [1.0, 0.0]
    )
    x = torch.tensor([[1.0, 3.0], [-1.0, 0.5]])
    # x - b_dec = [[0, 3], [-2, 0.5]]; pre = [[0, 2], [-2, -0.5]]; f = [[0, 2], [0, 0]]
    # x_hat = f @ W_dec + b_dec = [[1, 1], [1, 0]]; errors [0 + 4, 4 + 0.25] -> recon 4.125
    # L1 term: mean_b sum_i f_i ||W_dec[i]|| = (2 * 0.5 + 0) / 2 = 0.5
    out = relu_l1_loss(sae, x, l1_coeff=0.1)
    assert float(out.recon) == pytest.approx(4.125)
    assert float(out.aux) == pytest.approx(0.5)
    assert float(out.loss.detach()) == pytest.approx(4.125 + 0.1 * 0.5)
    assert out.l0 == pytest.approx(0.5)
    assert out.fired.tolist() == [False, True]
    # the decoder norm matters: doubling row 1 doubles its penalty per unit of f
    with torch.no_grad():
        sae.W_dec[1] *= 2  # norm 1; x_hat[0] = [1, 2] -> errors [0 + 1, 4.25]
    out = relu_l1_loss(sae, x, l1_coeff=0.1)
    assert float(out.aux) == pytest.approx(1.0)
    assert float(out.recon) == pytest.approx((1.0 + 4.25) / 2)
