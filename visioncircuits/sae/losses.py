"""Training losses for the three architectures, with a sparse path for TopK/BatchTopK.

Why this shape: on CPU a TopK SAE step is dominated by ``topk`` and by dense (B x d_sae)
temporaries, not by the matmuls. So the encoder matmul runs once without a graph just to
*choose* the active latents; :class:`SparseEncoderGrad` then gives the chosen values a
gradient computed from the k active (sample, latent) pairs only (an ``index_add`` of B*k
rows instead of a dense (B x d_sae) scatter and matmul); the decoder sums k gathered rows
of ``W_dec`` (``embedding_bag``) instead of multiplying a dense code; and the auxiliary loss
looks only at the columns of latents that are actually dead, instead of a second top-half
``topk`` over every latent. Values and gradients equal the textbook dense formulation
(checked in the tests); speed is measured by ``visioncircuits bench sae``.

All losses work in the SAE's scaled space (inputs of unit mean norm), so the numbers are
comparable across layers: ``recon`` is the mean squared L2 error per sample.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import torch
import torch.nn.functional as F

from visioncircuits.errors import InputError
from visioncircuits.sae.models import SparseAutoencoder

if TYPE_CHECKING:
    from visioncircuits.sae.distributed import BatchReduce


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


class SparseEncoderGrad(torch.autograd.Function):
    """``pre[rows, cols]`` for ``pre = x @ W + bias``, given the already computed values,
    with the gradient for ``W`` and ``bias`` built from the selected pairs only."""

    @staticmethod
    def forward(ctx, x, weight, bias, rows, cols, values):  # noqa: D102
        ctx.save_for_backward(x, rows, cols)
        ctx.d_sae = weight.shape[1]
        return values.clone()

    @staticmethod
    def backward(ctx, *grad_outputs):  # noqa: D102
        (grad,) = grad_outputs
        x, rows, cols = ctx.saved_tensors
        g = grad.reshape(-1)
        d_in = x.shape[1]
        gw_t = torch.zeros(ctx.d_sae, d_in, dtype=x.dtype, device=x.device).index_add_(0, cols, g[:, None] * x[rows])
        gb = torch.zeros(ctx.d_sae, dtype=x.dtype, device=x.device).index_add_(0, cols, g)
        return None, gw_t.t(), gb, None, None, None


def _select(x_s: torch.Tensor, sae: SparseAutoencoder, bias: torch.Tensor, pre: torch.Tensor, rows: torch.Tensor,
            cols: torch.Tensor) -> torch.Tensor:
    """Pre-activations at (rows, cols) with a sparse gradient (flat, one per pair)."""
    return SparseEncoderGrad.apply(x_s, sae.W_enc, bias, rows, cols, pre[rows, cols])


def _aux_loss(sae: SparseAutoencoder, x_s: torch.Tensor, bias: torch.Tensor, pre: torch.Tensor, resid: torch.Tensor,
              dead: torch.Tensor, aux_k: int, reduce: Optional[BatchReduce] = None, n_all: int = 0) -> torch.Tensor:
    """Gao et al. (2024) auxiliary loss: the top ``aux_k`` *dead* latents reconstruct the
    residual; normalised by the residual's variance so its scale is stable."""
    dead_idx = dead.nonzero().flatten()
    if len(dead_idx) == 0 or aux_k <= 0:
        return pre.new_zeros(())
    kk = min(aux_k, len(dead_idx))
    cols = dead_idx[pre[:, dead_idx].topk(kk, dim=1, sorted=False).indices]  # (B, kk)
    rows = torch.arange(len(pre), device=pre.device).repeat_interleave(kk)
    vals = F.relu(_select(x_s, sae, bias, pre, rows, cols.flatten())).view_as(cols)
    e_hat = F.embedding_bag(cols, sae.W_dec, per_sample_weights=vals, mode="sum")
    if reduce is not None:  # data-parallel: this rank's share of the global-batch loss
        return (e_hat - resid).pow(2).sum() / n_all / reduce.variance(resid, n_all).clamp_min(1e-8)
    denom = (resid - resid.mean(0)).pow(2).sum(-1).mean().clamp_min(1e-8)
    return (e_hat - resid).pow(2).sum(-1).mean() / denom


def topk_loss(sae: SparseAutoencoder, x: torch.Tensor, dead: torch.Tensor, aux_k: int, aux_coeff: float,
              reduce: Optional[BatchReduce] = None) -> StepOut:
    """TopK (per sample) or BatchTopK (per batch) reconstruction loss plus the auxiliary loss.

    With ``reduce`` (data-parallel training) ``x`` is this rank's slice of the global batch:
    the loss is its share of the global-batch loss, and ``recon``, ``l0`` and ``fired`` are
    global; BatchTopK needs the whole batch and is refused."""
    x_s = x * sae.input_scale
    # pre = (x_s - b_dec) @ W_enc + b_enc, with the bias folded so no (B, d_in) gradient is formed.
    bias = sae.b_enc - sae.b_dec @ sae.W_enc
    with torch.no_grad():
        pre = torch.addmm(bias, x_s, sae.W_enc)
    b, k = x.shape[0], sae.gate_k
    min_active = None
    if sae.architecture == "topk":
        idx = pre.topk(k, dim=1, sorted=False).indices
        rows, cols = torch.arange(b, device=x.device).repeat_interleave(k), idx.flatten()
        vals = F.relu(_select(x_s, sae, bias, pre, rows, cols))
        x_hat_s = F.embedding_bag(idx, sae.W_dec, per_sample_weights=vals.view(b, k), mode="sum") + sae.b_dec
    else:  # batchtopk: the k*B largest positive pre-activations of the whole batch
        top = pre.flatten().topk(min(k * b, pre.numel()), sorted=False)
        pos = top.indices[top.values > 0].sort().values
        rows, cols = pos // sae.d_sae, pos % sae.d_sae
        vals = _select(x_s, sae, bias, pre, rows, cols)
        offsets = torch.searchsorted(rows, torch.arange(b, device=x.device))
        x_hat_s = F.embedding_bag(cols, sae.W_dec, offsets, per_sample_weights=vals, mode="sum") + sae.b_dec
        if len(pos):
            min_active = float(vals.detach().min())
    active = vals.detach() > 0
    fired = torch.zeros(sae.d_sae, dtype=torch.bool, device=x.device)
    fired[cols[active]] = True
    x_hat = x_hat_s.detach() / sae.input_scale
    if reduce is not None:
        if sae.architecture == "batchtopk":
            raise InputError("batchtopk picks its top activations over the whole batch; train it in one process")
        n_all = reduce.count(b, x.device)
        recon = (x_hat_s - x_s).pow(2).sum() / n_all
        fired = reduce.any(fired)
        aux = _aux_loss(sae, x_s, bias, pre, (x_s - x_hat_s).detach(), dead & ~fired, aux_k, reduce, n_all)
        loss = recon + aux_coeff * aux if aux.requires_grad else recon
        return StepOut(loss, reduce.sum(recon), reduce.sum(aux), float(reduce.sum(active.sum().float())) / n_all,
                       fired, x_hat)
    recon = (x_hat_s - x_s).pow(2).sum(-1).mean()
    aux = _aux_loss(sae, x_s, bias, pre, (x_s - x_hat_s).detach(), dead & ~fired, aux_k)
    loss = recon + aux_coeff * aux if aux.requires_grad else recon
    return StepOut(loss, recon.detach(), aux.detach(), float(active.sum()) / b, fired, x_hat, min_active)


def relu_l1_loss(sae: SparseAutoencoder, x: torch.Tensor, l1_coeff: float,
                 reduce: Optional[BatchReduce] = None) -> StepOut:
    """ReLU SAE: MSE + ``l1_coeff`` * sum_i z_i ||W_dec_i|| (decoder norms kept at 1)."""
    x_s = x * sae.input_scale
    z = F.relu((x_s - sae.b_dec) @ sae.W_enc + sae.b_enc)
    x_hat_s = z @ sae.W_dec + sae.b_dec
    if reduce is not None:  # this rank's share of the global-batch loss
        n_all = reduce.count(x.shape[0], x.device)
        recon = (x_hat_s - x_s).pow(2).sum() / n_all
        l1 = (z * sae.W_dec.norm(dim=1)).sum() / n_all
        active = z.detach() > 0
        return StepOut(recon + l1_coeff * l1, reduce.sum(recon), reduce.sum(l1),
                       float(reduce.sum(active.sum().float())) / n_all, reduce.any(active.any(0)),
                       x_hat_s.detach() / sae.input_scale)
    recon = (x_hat_s - x_s).pow(2).sum(-1).mean()
    l1 = (z * sae.W_dec.norm(dim=1)).sum(-1).mean()
    active = z.detach() > 0
    return StepOut(recon + l1_coeff * l1, recon.detach(), l1.detach(), float(active.sum()) / x.shape[0],
                   active.any(0), x_hat_s.detach() / sae.input_scale)


def step_loss(sae: SparseAutoencoder, x: torch.Tensor, dead: torch.Tensor, aux_k: int = 256, aux_coeff: float = 1 / 32,
              l1_coeff: float = 1.0, reduce: Optional[BatchReduce] = None) -> StepOut:
    """The training loss of ``sae``'s architecture on a batch ``x`` (model units); with
    ``reduce``, ``x`` is one rank's slice of a data-parallel global batch."""
    if sae.architecture == "relu":
        return relu_l1_loss(sae, x, l1_coeff, reduce)
    return topk_loss(sae, x, dead, aux_k, aux_coeff, reduce)
