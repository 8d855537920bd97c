"""SAE evaluation: reconstruction quality, sparsity, dead latents and downstream loss recovered.

Definitions (so numbers are comparable with SAELens / Gao et al.; all sums over samples):

- ``mse``: mean of (x - x_hat)^2 over samples and channels, in the model's units.
- ``nmse``: sum ||x - x_hat||^2 / sum ||x||^2 (error relative to reconstructing zero).
- ``explained_variance``: 1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2.
- ``l0``: mean number of non-zero latents per sample.
- ``dead_fraction``: fraction of latents that never fired on the evaluation samples.
- ``loss_recovered``: (L_zero - L_sae) / (L_zero - L_clean), where L is the model's output
  loss with the layer left alone (clean), replaced by the SAE reconstruction (sae) or by
  zeros (zero); L is cross-entropy against labels when given, else the KL divergence from
  the clean output distribution (so L_clean = 0). 1 = the splice loses nothing.
"""
from __future__ import annotations

from typing import Iterable, Optional

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from visioncircuits.sae.models import SparseAutoencoder, flatten_positions, unflatten_positions


class ReconstructionStats:
    """Accumulates reconstruction and sparsity statistics over batches of (M, d_in) samples."""

    def __init__(self, d_sae: int):
        self.n = 0
        self.sq_err = 0.0
        self.sq_norm = 0.0
        self.sum: Optional[torch.Tensor] = None
        self.sum_sq = 0.0
        self.nonzero = 0
        self.channels = 0
        self.fire_count = torch.zeros(d_sae, dtype=torch.long)

    @torch.no_grad()
    def update(self, x: torch.Tensor, x_hat: torch.Tensor, z: torch.Tensor) -> None:
        x, x_hat, z = x.double(), x_hat.double(), z
        self.n += x.shape[0]
        self.channels = x.shape[1]
        self.sq_err += float((x - x_hat).pow(2).sum())
        self.sq_norm += float(x.pow(2).sum())
        s = x.sum(0).cpu()
        self.sum = s if self.sum is None else self.sum + s
        active = z != 0
        self.nonzero += int(active.sum())
        self.fire_count += active.sum(0).cpu()

    def result(self) -> dict:
        if self.n == 0:
            return {}
        # sum ||x - mean||^2 = sum ||x||^2 - n ||mean||^2
        total = self.sum if self.sum is not None else torch.zeros(())
        centred = self.sq_norm - float(total.pow(2).sum()) / self.n
        return {
            "samples": self.n,
            "mse": self.sq_err / (self.n * self.channels),
            "nmse": self.sq_err / max(self.sq_norm, 1e-30),
            "explained_variance": 1.0 - self.sq_err / max(centred, 1e-30),
            "l0": self.nonzero / self.n,
            "dead_fraction": float((self.fire_count == 0).float().mean()),
        }


@torch.no_grad()
def reconstruction_metrics(sae: SparseAutoencoder, x: torch.Tensor, batch_size: int = 8192) -> dict:
    """Metrics of ``sae`` on samples ``x`` (M, d_in) (or (N, C, H, W) activations)."""
    x = flatten_positions(x)
    stats = ReconstructionStats(sae.d_sae)
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(sae.W_enc.device, sae.W_enc.dtype)
        z = sae.encode(xb)
        stats.update(xb, sae.decode(z), z)
    return stats.result()


def splice_fn(sae: SparseAutoencoder):
    """A hook function replacing a layer's output by the SAE reconstruction (any position)."""

    def fn(out: torch.Tensor, _layer: str) -> torch.Tensor:
        flat = flatten_positions(out).to(sae.W_enc.dtype)
        return unflatten_positions(sae(flat), out.shape).to(out.dtype).contiguous()

    return fn


def _zero_fn(out: torch.Tensor, _layer: str) -> torch.Tensor:
    return torch.zeros_like(out)


def _loss(logits: torch.Tensor, clean: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
    """Summed per-image loss: CE against labels, else KL(clean || patched)."""
    if labels is not None:
        return F.cross_entropy(logits, labels, reduction="sum")
    return F.kl_div(F.log_softmax(logits, -1), F.log_softmax(clean, -1), log_target=True, reduction="sum")


@torch.no_grad()
def evaluate_sae(model, sae: SparseAutoencoder, batches: Iterable, layer: Optional[str] = None, progress: bool = True,
                 total: Optional[int] = None) -> dict:
    """All metrics of ``sae`` on ``layer`` of ``model`` over ``batches`` of images.

    ``batches`` yields image tensors or ``(images, labels)`` pairs (labels may be None).
    """
    layer = layer or sae.cfg.layer
    model.resolve_layer(layer)
    sae = sae.eval()
    stats = ReconstructionStats(sae.d_sae)
    loss = {"clean": 0.0, "sae": 0.0, "zero": 0.0}
    n_images, used_labels = 0, False
    grab: dict = {}

    def capture(out, _layer):
        grab["acts"] = out
        return None

    for item in tqdm(batches, desc="eval sae", unit="batch", disable=not progress, total=total):
        images, labels = (item if isinstance(item, (tuple, list)) else (item, None))
        images = images.to(model.device)
        labels = labels.to(model.device) if labels is not None else None
        used_labels = used_labels or labels is not None
        clean = model.run_with_hooks(images, [(layer, capture)])
        x = flatten_positions(grab.pop("acts")).to(sae.W_enc.device, sae.W_enc.dtype)
        z = sae.encode(x)
        stats.update(x, sae.decode(z), z)
        loss["clean"] += float(_loss(clean, clean, labels))
        loss["sae"] += float(_loss(model.run_with_hooks(images, [(layer, splice_fn(sae))]), clean, labels))
        loss["zero"] += float(_loss(model.run_with_hooks(images, [(layer, _zero_fn)]), clean, labels))
        n_images += len(images)
    out = stats.result()
    if n_images:
        per = {k: v / n_images for k, v in loss.items()}
        gap = per["zero"] - per["clean"]
        out.update(images=n_images, loss_clean=per["clean"], loss_sae=per["sae"], loss_zero=per["zero"],
                   loss_kind="cross_entropy" if used_labels else "kl_to_clean",
                   loss_recovered=(per["zero"] - per["sae"]) / gap if abs(gap) > 1e-12 else float("nan"))
    return out
