"""Sparse autoencoders on CNN activations; latents are units everywhere (``sae:DIR:LATENT``).

Modules: ``models`` (the SAE), ``io`` (save/load), ``units`` (latent maps), ``stream``
(activation streams), ``losses`` (training losses, sparse fast path), ``train`` and
``checkpoint`` (training that resumes after a kill), ``metrics`` (evaluation), ``pipeline``
(model + layer + data -> SAE directory), ``toy_recovery`` (latents vs neurons on the toy world).
"""
from visioncircuits.sae.io import load_sae, save_sae
from visioncircuits.sae.models import SparseAutoencoder

__all__ = ["SparseAutoencoder", "load_sae", "save_sae"]
