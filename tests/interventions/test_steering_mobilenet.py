"""MobileNetV2: the dog-leaning SAE latent steers non-dog photos to dog classes and a random latent
does not (published on 100 photos in results/steering_mobilenet.json; here 16 of the same photos)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from visioncircuits.data import ImageFolder, list_images
from visioncircuits.interventions.steering import steering_sweep
from visioncircuits.zoo import load_model
from visioncircuits.zoo.imagenet_classes import DOG_CLASSES, class_index, is_dog

RESULTS = Path(__file__).resolve().parents[2] / "results" / "steering_mobilenet.json"
SAE = "models/sae/mobilenet-v2-blocks.9"


@pytest.mark.shared
@pytest.mark.slow
def test_dog_latent_steers_to_dogs_and_a_random_latent_does_not(sample_images_dir):
    values = json.loads(RESULTS.read_text())["values"]
    published = values["dog_units"][2]["alphas"]["4.0"]["dog_share"]
    assert values["dog_units"][2]["unit"] == f"sae:{SAE}:185"
    nondog = [p for p in list_images(sample_images_dir) if not is_dog(class_index(p.name.split("_")[0]))]
    paths = nondog[::8][:16]  # the first 16 photos of the published run
    assert [p.name for p in paths] == values["photos"][:16]
    images = torch.cat([b for _, b in ImageFolder(sample_images_dir, 224, paths=paths).batches(16)])
    model = load_model("mobilenet-v2")
    dog = {"dog": set(DOG_CLASSES)}
    latent = steering_sweep(model, f"sae:{SAE}:185", [4.0], images, effect=None, groups=dog, batch_size=16)
    control = steering_sweep(model, f"sae:{SAE}:10", [4.0], images, effect=None, groups=dog, batch_size=16)
    assert latent.baseline.group_shares["dog"] == 0.0
    # 52% of 100 photos published; 16 photos with the peak taken over those 16 land lower
    assert latent.alphas[0].group_shares["dog"] >= 0.5 * published
    assert control.alphas[0].group_shares["dog"] <= 0.07
