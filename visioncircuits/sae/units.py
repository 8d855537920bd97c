"""SAE latents as units: a latent's activation map over a conv layer's positions.

Called by :func:`visioncircuits.unit_activations.unit_map` for addresses ``sae:DIR:LATENT``,
so render, gallery and circuits treat latents like channels.

The gradient choice (why "straight-through"): a TopK/BatchTopK gate is zero almost
everywhere for one latent, and its derivative is zero where the latent is off, so feature
visualisation starting from noise would get no signal. The map returned here has the
*value* of the real gated latent (what ``sae.encode`` gives, so dataset examples and
circuit attributions see true activations) and the *gradient* of the smooth linear
pre-activation ``(x * s - b_dec) @ W_enc[:, i] + b_enc[i]`` everywhere. Where the latent
fires the two gradients agree (the gate's slope is 1 there). Pass ``mode="pre"`` for the
pre-activation itself or ``mode="gated"`` for the exact gated value with its true gradient.
"""
from __future__ import annotations

import torch

from visioncircuits.errors import InputError
from visioncircuits.sae.models import SparseAutoencoder, flatten_positions

MODES = ("straight_through", "pre", "gated")


def sae_latent_map(sae: SparseAutoencoder, acts: torch.Tensor, index: int,
                   mode: str = "straight_through") -> torch.Tensor:
    """Latent ``index`` at every position: acts (N, C, H, W) -> (N, H, W), differentiable.

    (N, C) activations give (N, 1, 1).
    """
    if acts.dim() == 2:
        acts = acts[:, :, None, None]
    if acts.dim() != 4:
        raise InputError(f"activations must be (N, C, H, W), got {tuple(acts.shape)}")
    if acts.shape[1] != sae.d_in:
        raise InputError(f"the SAE reads {sae.d_in} channels but the activation has {acts.shape[1]} "
                         f"(trained on layer '{sae.cfg.layer}' of {sae.cfg.model})")
    if not 0 <= index < sae.d_sae:
        raise InputError(f"latent {index} out of range: the SAE has {sae.d_sae} latents (0..{sae.d_sae - 1})")
    if mode not in MODES:
        raise InputError(f"unknown latent map mode '{mode}'; choose from {', '.join(MODES)}")
    n, _, h, w = acts.shape
    flat = flatten_positions(acts.to(sae.W_enc.dtype))
    pre_all = sae.pre_activation(flat)
    pre = pre_all[:, index]
    if mode == "pre":
        out = pre
    else:
        with torch.set_grad_enabled(mode == "gated" and torch.is_grad_enabled()):
            gated = sae.gate(pre_all, batch_topk=False)[:, index]
        out = gated if mode == "gated" else gated.detach() + (pre - pre.detach())
    return out.view(n, h, w)
