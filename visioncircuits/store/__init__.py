"""On-disk activation stores: harvest a layer's activations once, read them many times.

Why: an SAE on millions of activation vectors should not rerun the CNN for every epoch or
on every data-parallel rank. ``harvest_activations`` writes a chunked store (safetensors
chunks plus ``manifest.json``; resumable, shardable); ``ActivationStore`` reads it back in a
deterministic order or as seeded shuffled batches (the SAE trainer's data source).
"""
from visioncircuits.store.harvest import HarvestResult, harvest_activations
from visioncircuits.store.manifest import FORMAT, MANIFEST_FILE, StoreSettings
from visioncircuits.store.reader import ActivationStore, StoreStream

__all__ = ["ActivationStore", "FORMAT", "HarvestResult", "MANIFEST_FILE", "StoreSettings", "StoreStream",
           "harvest_activations"]
