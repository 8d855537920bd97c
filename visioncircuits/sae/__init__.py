"""Sparse autoencoders on CNN activations; latents are units everywhere (``sae:DIR:LATENT``).

Modules: ``config`` (the typed ``cfg.json``), ``models`` (the SAE), ``io`` (save/load), ``units``
(latent maps), ``stream`` (activation streams), ``losses`` (training losses, sparse fast path), ``train`` and
``checkpoint`` (training that resumes after a kill), ``metrics`` (evaluation), ``pipeline``
(model + layer + data -> SAE directory), ``toy_recovery`` (latents vs neurons on the toy world),
``saelens_format`` (folders SAELens opens, and SAELens folders imported back).
"""
from visioncircuits.sae.config import BatchTopKSAEConfig, ReLUSAEConfig, SAEConfig, TopKSAEConfig, read_config
from visioncircuits.sae.io import load_sae, save_sae
from visioncircuits.sae.models import SparseAutoencoder
from visioncircuits.sae.saelens_format import export_saelens, import_saelens

__all__ = ["BatchTopKSAEConfig", "ReLUSAEConfig", "SAEConfig", "SparseAutoencoder", "TopKSAEConfig", "export_saelens",
           "import_saelens", "load_sae", "read_config", "save_sae"]
