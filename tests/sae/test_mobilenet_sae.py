"""The committed MobileNetV2 SAE (models/sae/mobilenet-v2-blocks.9) loads, is a unit source,
and reconstructs held-out photos near the numbers in docs/readme/sae.md."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

SAE_DIR = Path(__file__).resolve().parents[2] / "models" / "sae" / "mobilenet-v2-blocks.9"


def test_committed_sae_loads_and_matches_the_layer():
    from visioncircuits.sae.io import load_sae

    sae = load_sae(SAE_DIR)
    assert sae.cfg["model"] == "mobilenet-v2" and sae.cfg["layer"] == "blocks.9"
    assert sae.d_in == 64 and sae.cfg["training"]["finished"]
    x = torch.randn(10, 64).abs()
    assert (sae.encode(x) != 0).sum(1).le(sae.cfg["k"]).all()  # TopK: at most k active


@pytest.mark.shared
@pytest.mark.slow  # 40 held-out photos through MobileNetV2 three times
def test_committed_sae_reconstructs_heldout_photos(sample_images_dir):
    from visioncircuits.data import ImageFolder
    from visioncircuits.sae.io import load_sae
    from visioncircuits.sae.metrics import evaluate_sae
    from visioncircuits.sae.stream import split_folder
    from visioncircuits.zoo import load_model

    model = load_model("mobilenet-v2")
    sae = load_sae(SAE_DIR)
    held = split_folder(sample_images_dir)[1][:40]  # never trained on
    batches = (imgs for _, imgs in ImageFolder(sample_images_dir, 224, paths=held).batches(20))
    m = evaluate_sae(model, sae, batches, "blocks.9", progress=False)
    claimed = sae.cfg["metrics"]
    assert m["explained_variance"] > claimed["explained_variance"] - 0.1
    assert m["loss_recovered"] > claimed["loss_recovered"] - 0.15
    assert sae.cfg["k"] / 2 < m["l0"] <= sae.cfg["k"]
