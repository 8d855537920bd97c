"""Training losses for the three architectures, with a sparse decoder for TopK/BatchTopK.

Why this shape: on CPU a TopK SAE step is dominated by ``topk`` itself and by dense
(B x d_sae) temporaries, not by the matmuls. So the encoder runs as one ``addmm`` and
``topk`` picks k (value, index) pairs per sample *with* autograd (its backward is a single
scatter); the decoder never builds the dense code but sums k gathered rows of ``W_dec``
(``embedding_bag``); and the auxiliary loss looks only at the columns of latents that are
actually dead, instead of a second top-half ``topk`` over every latent. Values and
gradients equal the textbook dense formulation (checked in the tests); speed is measured by
``visioncircuits bench sae``.

All losses work in the SAE's scaled space (inputs of unit mean norm), so the numbers are
comparable across layers: ``recon`` is the mean squared L2 error per sample.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from visioncircuits.sae.models import SparseAutoencoder


@dataclass
class StepOut:
    """One step's loss and what the trainer tracks (all detached except ``loss``)."""

    loss: torch.Tensor
    recon: torch.Tensor
    aux: torch.Tensor
    l0: float
    fired: torch.Tensor  # (d_sae,) bool: latents active at least once in this batch
    x_hat: torch.Tensor
    min_active: Optional[float] = None  # BatchTopK: smallest kept activation (threshold EMA)


def _aux_loss(sae: SparseAutoencoder, pre: torch.Tensor, resid: torch.Tensor, dead: torch.Tensor, aux_k: int) -> torch.Tensor:
    """Gao et al. (2024) auxiliary loss: the top ``aux_k`` *dead* latents reconstruct the
    residual; normalised by the residual's variance so its scale is stable."""
    dead_idx = dead.nonzero().flatten()
    if len(dead_idx) == 0 or aux_k <= 0:
        return pre.new_zeros(())
    vals, pos = pre[:, dead_idx].topk(min(aux_k, len(dead_idx)), dim=1, sorted=False)
    e_hat = F.embedding_bag(dead_idx[pos], sae.W_dec, per_sample_weights=F.relu(vals), mode="sum")
    denom = (resid - resid.mean(0)).pow(2).sum(-1).mean().clamp_min(1e-8)
    return (e_hat - resid).pow(2).sum(-1).mean() / denom


def topk_loss(sae: SparseAutoencoder, x: torch.Tensor, dead: torch.Tensor, aux_k: int, aux_coeff: float) -> StepOut:
    """TopK (per sample) or BatchTopK (per batch) reconstruction loss plus the auxiliary loss."""
    x_s = x * sae.input_scale
    pre = torch.addmm(sae.b_enc, x_s - sae.b_dec, sae.W_enc)
    b = x.shape[0]
    min_active = None
    if sae.architecture == "topk":
        vals, idx = pre.topk(sae.k, dim=1, sorted=False)
        vals = F.relu(vals)
        x_hat_s = F.embedding_bag(idx, sae.W_dec, per_sample_weights=vals, mode="sum") + sae.b_dec
        cols = idx.flatten()
    else:  # batchtopk: the k*B largest positive pre-activations of the whole batch
        flat = pre.flatten()
        top = flat.detach().topk(min(sae.k * b, flat.numel()), sorted=False)
        pos = top.indices[top.values > 0].sort().values
        rows, cols = pos // sae.d_sae, pos % sae.d_sae
        vals = flat[pos]
        offsets = torch.searchsorted(rows, torch.arange(b, device=x.device))
        x_hat_s = F.embedding_bag(cols, sae.W_dec, offsets, per_sample_weights=vals, mode="sum") + sae.b_dec
        if len(pos):
            min_active = float(vals.detach().min())
    recon = (x_hat_s - x_s).pow(2).sum(-1).mean()
    active = vals.detach().flatten() > 0
    fired = torch.zeros(sae.d_sae, dtype=torch.bool, device=x.device)
    fired[cols[active]] = True
    aux = _aux_loss(sae, pre, (x_s - x_hat_s).detach(), dead & ~fired, aux_k)
    loss = recon + aux_coeff * aux if aux.requires_grad else recon
    return StepOut(loss, recon.detach(), aux.detach(), float(active.sum()) / b, fired, x_hat_s.detach() / sae.input_scale, min_active)


def relu_l1_loss(sae: SparseAutoencoder, x: torch.Tensor, l1_coeff: float) -> StepOut:
    """ReLU SAE: MSE + ``l1_coeff`` * sum_i z_i ||W_dec_i|| (decoder norms kept at 1)."""
    x_s = x * sae.input_scale
    z = F.relu((x_s - sae.b_dec) @ sae.W_enc + sae.b_enc)
    x_hat_s = z @ sae.W_dec + sae.b_dec
    recon = (x_hat_s - x_s).pow(2).sum(-1).mean()
    l1 = (z * sae.W_dec.norm(dim=1)).sum(-1).mean()
    active = z.detach() > 0
    return StepOut(recon + l1_coeff * l1, recon.detach(), l1.detach(), float(active.sum()) / x.shape[0],
                   active.any(0), x_hat_s.detach() / sae.input_scale)


def step_loss(sae: SparseAutoencoder, x: torch.Tensor, dead: torch.Tensor, aux_k: int = 256, aux_coeff: float = 1 / 32,
              l1_coeff: float = 1.0) -> StepOut:
    """The training loss of ``sae``'s architecture on a batch ``x`` (model units)."""
    if sae.architecture == "relu":
        return relu_l1_loss(sae, x, l1_coeff)
    return topk_loss(sae, x, dead, aux_k, aux_coeff)
