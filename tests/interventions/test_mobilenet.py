"""MobileNetV2 photo pairs: patching effects and estimates reproduce results/interventions_mobilenet.json."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from visioncircuits.data import load_image
from visioncircuits.interventions import activation_patching, attribution_patching, logit_metric
from visioncircuits.zoo import load_model

RESULTS = Path(__file__).resolve().parents[2] / "results" / "interventions_mobilenet.json"


@pytest.mark.shared
@pytest.mark.slow
def test_mobilenet_patching_matches_the_published_run(sample_images_dir):
    values = json.loads(RESULTS.read_text())["values"]
    pairs, published = values["pairs"], values["layers"]["blocks.15"]
    model = load_model("mobilenet-v2")
    clean = torch.stack([load_image(sample_images_dir / n, 224) for n in pairs["clean"]])
    corrupted = torch.stack([load_image(sample_images_dir / n, 224) for n in pairs["corrupted"]])
    metric = logit_metric(torch.tensor(pairs["classes"]))
    units = [f"blocks.15:{c}" for c in range(0, 160, 32)]  # 5 of the 160 channels
    with torch.no_grad():
        assert (model(clean).argmax(1) == torch.tensor(pairs["classes"])).all()  # the dogs are recognised
    true = activation_patching(model, clean, corrupted, units, metric)
    est = attribution_patching(model, clean, corrupted, units, metric)
    for u in units:
        assert true[u] == pytest.approx(published["effects"][u], abs=2e-3), u
        assert est[u] == pytest.approx(published["estimates"][u], abs=2e-3), u
    assert published["spearman"] > 0.7
    assert model.hook_count() == 0
