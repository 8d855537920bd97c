"""Sparse autoencoders on CNN activations; latents are units everywhere (``sae:DIR:LATENT``).

Modules: ``models`` (the SAE), ``io`` (save/load), ``units`` (latent maps), ``stream``
(activation streams), ``train`` (training with checkpoints), ``metrics`` (evaluation).
"""
from visioncircuits.sae.io import load_sae, save_sae
from visioncircuits.sae.models import SparseAutoencoder

__all__ = ["SparseAutoencoder", "load_sae", "save_sae"]
