"""Sparse autoencoders for conv activations: TopK, BatchTopK and ReLU + L1, one module.

Why one class: the three architectures differ only in the gate after the linear encoder
(the loss terms live in :mod:`visioncircuits.sae.train`), so saving, loading, metrics and
unit maps never special-case the architecture.

Parameters keep the names of the saved file so the math is readable without this package:

    x_s  = x * input_scale                  # input_scale makes the mean ||x_s|| equal 1
    pre  = (x_s - b_dec) @ W_enc + b_enc    # W_enc: (d_in, d_sae)
    z    = gate(pre)                        # topk / batchtopk / relu
    x_hat = (z @ W_dec + b_dec) / input_scale   # W_dec: (d_sae, d_in), rows unit norm

Training uses a sparse fast path for TopK/BatchTopK (see :mod:`visioncircuits.sae.losses`).
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from visioncircuits.errors import InputError
from visioncircuits.sae.config import ARCHITECTURES, SAEConfig

__all__ = ["ARCHITECTURES", "SparseAutoencoder", "flatten_positions", "unflatten_positions"]


class SparseAutoencoder(nn.Module):
    """A one-layer SAE on ``d_in``-dimensional activations with ``d_sae`` latents.

    ``cfg`` is the :class:`~visioncircuits.sae.config.SAEConfig` stored as ``cfg.json``
    (architecture, d_in, d_sae, k, layer, model, input_scale, ...); dict-style reads such as
    ``sae.cfg["layer"]`` still work. ``encode``/``decode``/``forward`` take and return
    activations in the model's own units; the input scaling is internal.

    Examples:
        >>> sae = SparseAutoencoder(64, 1024, "topk", k=16, cfg={"layer": "layer3"})
        >>> sae.encode(torch.randn(5, 64)).shape
        torch.Size([5, 1024])
    """

    input_scale: torch.Tensor  # buffers, declared for type checkers
    threshold: torch.Tensor

    def __init__(self, d_in: int, d_sae: int, architecture: str = "topk", k: Optional[int] = None,
                 cfg: Union[Mapping[str, Any], SAEConfig, None] = None):
        super().__init__()
        base = cfg.to_dict() if isinstance(cfg, SAEConfig) else dict(cfg or {})
        if architecture == "relu":
            k = None  # a ReLU SAE has no k (older code passed one and ignored it)
        config = SAEConfig.from_dict({**base, "architecture": architecture, "d_in": d_in, "d_sae": d_sae, "k": k})
        self.W_enc = nn.Parameter(torch.empty(config.d_in, config.d_sae))
        self.b_enc = nn.Parameter(torch.zeros(config.d_sae))
        self.W_dec = nn.Parameter(torch.empty(config.d_sae, config.d_in))
        self.b_dec = nn.Parameter(torch.zeros(config.d_in))
        # Non-trainable state saved with the weights.
        self.register_buffer("input_scale", torch.full((), config.input_scale))
        self.register_buffer("threshold", torch.full((), config.threshold))  # BatchTopK inference threshold
        self._cfg = config
        self.reset_parameters()

    @classmethod
    def from_config(cls, cfg: SAEConfig) -> SparseAutoencoder:
        """A freshly initialised SAE for ``cfg`` (weights random; ``input_scale``/``threshold`` from ``cfg``)."""
        return cls(cfg.d_in, cfg.d_sae, cfg.architecture, cfg.k, cfg=cfg)

    # ------------------------------------------------------------------ config
    @property
    def cfg(self) -> SAEConfig:
        """The SAE's :class:`SAEConfig` (what ``cfg.json`` holds)."""
        return self._cfg

    @cfg.setter
    def cfg(self, value: Union[SAEConfig, Mapping[str, Any]]) -> None:
        new = value if isinstance(value, SAEConfig) else SAEConfig.from_dict(
            {"architecture": self.architecture, "d_in": self.d_in, "d_sae": self.d_sae, "k": self.k, **value})
        if (new.architecture, new.d_in, new.d_sae) != (self.architecture, self.d_in, self.d_sae):
            raise InputError(f"config is a {new.architecture} SAE {new.d_in}->{new.d_sae}, "
                             f"these weights are a {self.architecture} SAE {self.d_in}->{self.d_sae}")
        self._cfg = new

    @property
    def architecture(self) -> str:
        return self._cfg.architecture

    @property
    def d_in(self) -> int:
        return self.W_enc.shape[0]  # from the weights, so a config edited by hand cannot disagree silently

    @property
    def d_sae(self) -> int:
        return self.W_enc.shape[1]

    @property
    def k(self) -> Optional[int]:
        return self._cfg.k

    @property
    def gate_k(self) -> int:
        """``k`` of a TopK/BatchTopK SAE as an int (its config guarantees one)."""
        if self._cfg.k is None:
            raise InputError(f"a {self.architecture} SAE has no k")
        return self._cfg.k

    # ------------------------------------------------------------------ setup
    def reset_parameters(self) -> None:
        """Random unit-norm decoder rows, encoder = decoder transpose (Gao et al. 2024)."""
        w = torch.randn(self.d_sae, self.d_in, device=self.W_dec.device)
        with torch.no_grad():
            self.W_dec.copy_(w / w.norm(dim=1, keepdim=True).clamp_min(1e-8))
            self.W_enc.copy_(self.W_dec.t())
            self.b_enc.zero_()
            self.b_dec.zero_()

    def _sync_cfg(self) -> None:
        """Copy the learned scalars (``input_scale``, ``threshold``) into ``cfg`` before saving."""
        if (self._cfg.d_in, self._cfg.d_sae) != (self.d_in, self.d_sae):
            raise InputError(f"SAE config says {self._cfg.d_in} -> {self._cfg.d_sae} latents, "
                             f"the weights are {self.d_in} -> {self.d_sae}")
        self._cfg.update(input_scale=float(self.input_scale), threshold=float(self.threshold))

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Keep decoder rows at unit norm, so latent magnitudes are comparable."""
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8))

    @torch.no_grad()
    def remove_parallel_grad(self) -> None:
        """Project out the gradient component parallel to each decoder row (Bricken et al. 2023)."""
        g = self.W_dec.grad
        if g is not None:
            g.sub_((g * self.W_dec).sum(dim=1, keepdim=True) * self.W_dec)

    # ------------------------------------------------------------------ math
    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 2 or x.shape[1] != self.d_in:
            raise InputError(f"SAE input must have shape (N, {self.d_in}), got {tuple(x.shape)}")

    def pre_activation(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder output before the gate, (N, d_sae): smooth in ``x`` (used for feature vis)."""
        self._check(x)
        return (x * self.input_scale - self.b_dec) @ self.W_enc + self.b_enc

    def gate(self, pre: torch.Tensor, batch_topk: Optional[bool] = None) -> torch.Tensor:
        """Apply the architecture's nonlinearity to pre-activations.

        BatchTopK keeps the ``k * N`` largest values of the whole batch while training
        (``batch_topk=True``) and a learned threshold at inference, so a sample's code does
        not depend on its batch-mates.
        """
        if self.architecture == "relu":
            return F.relu(pre)
        if self.architecture == "batchtopk":
            use_batch = self.training if batch_topk is None else batch_topk
            if not use_batch:
                return pre * (pre > self.threshold.clamp_min(0)).to(pre.dtype)
            flat = F.relu(pre).flatten()
            kk = min(self.gate_k * pre.shape[0], flat.numel())
            vals, idx = flat.topk(kk, sorted=False)
            return torch.zeros_like(flat).scatter(0, idx, vals).view_as(pre)
        vals, idx = pre.topk(self.gate_k, dim=1, sorted=False)
        return torch.zeros_like(pre).scatter(1, idx, F.relu(vals))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent codes (N, d_sae) for activations ``x`` (N, d_in) in model units."""
        return self.gate(self.pre_activation(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruction (N, d_in) in model units from codes (N, d_sae)."""
        return (z @ self.W_dec + self.b_dec) / self.input_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction of ``x`` (N, d_in)."""
        return self.decode(self.encode(x))

    def extra_repr(self) -> str:
        k = f", k={self.k}" if self.k is not None else ""
        scale = float(self.input_scale)
        return f"{self.architecture}, d_in={self.d_in}, d_sae={self.d_sae}{k}, input_scale={scale:.4g}"


def flatten_positions(acts: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N*H*W, C): every spatial position is one SAE sample; (N, C) passes."""
    if acts.dim() == 2:
        return acts
    if acts.dim() != 4:
        raise InputError(f"activations must be (N, C) or (N, C, H, W), got {tuple(acts.shape)}")
    return acts.permute(0, 2, 3, 1).reshape(-1, acts.shape[1])


def unflatten_positions(flat: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Inverse of :func:`flatten_positions` for a (N*H*W, D) tensor: -> (N, D, H, W)."""
    if len(shape) == 2:
        return flat
    n, _, h, w = shape
    return flat.view(n, h, w, -1).permute(0, 3, 1, 2)
