"""CIFAR ResNets: every depth builds right, the real published weights classify real photos."""
from __future__ import annotations

import pytest
import torch

from visioncircuits.data import list_images, load_image
from visioncircuits.errors import WeightsError
from visioncircuits.zoo import load_model
from visioncircuits.zoo.cifar_resnet import PUBLISHED, CifarResNet
from visioncircuits.zoo.imagenet_to_cifar import WNID_TO_CIFAR, cifar_label, cifar_subset


def _expected_params(depth: int) -> int:
    """Count by hand: stem conv+BN, three stages of basic blocks (first block of stages 2/3
    changes width), linear 64->10. Published: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M."""
    n = (depth - 2) // 6
    stem = 3 * 16 * 9 + 2 * 16
    s1 = n * (2 * 16 * 16 * 9 + 4 * 16)
    s2 = (16 * 32 * 9 + 32 * 32 * 9 + 4 * 32) + (n - 1) * (2 * 32 * 32 * 9 + 4 * 32)
    s3 = (32 * 64 * 9 + 64 * 64 * 9 + 4 * 64) + (n - 1) * (2 * 64 * 64 * 9 + 4 * 64)
    return stem + s1 + s2 + s3 + 64 * 10 + 10


@pytest.mark.parametrize(
    "depth,published", [(20, 269_722), (32, 464_154), (44, 658_586), (56, 853_018), (110, 1_727_962)]
)
def test_every_depth_builds_with_the_right_parameter_count(depth, published):
    model = load_model(f"cifar10-resnet{depth}", weights="random")
    count = sum(p.numel() for p in model.parameters())
    assert count == _expected_params(depth) == published
    n = (depth - 2) // 6
    assert len(model.net.layer3) == n and f"layer3.{n}" not in dict(model.net.named_modules())


def test_layer_shapes_of_the_cifar_resnet():
    model = load_model("cifar10-resnet20", weights="random")
    info = model.layer_info()
    assert info["relu"].shape == (16, 32, 32)
    assert info["layer1.2"].shape == (16, 32, 32)
    assert info["layer2.0"].shape == (32, 16, 16)
    assert info["layer3.2.relu2"].shape == (64, 8, 8)
    assert info["linear"].shape == (10,)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_bad_depth_is_rejected():
    with pytest.raises(ValueError, match="6n\\+2"):
        CifarResNet(21)


def test_shortcut_option_a_pads_channels_with_zeros():
    block = load_model("cifar10-resnet20", weights="random").net.layer2[0].shortcut
    x = torch.randn(1, 16, 8, 8)
    out = block(x)
    assert out.shape == (1, 32, 4, 4)
    assert torch.equal(out[:, 8:24], x[:, :, ::2, ::2])
    assert out[:, :8].abs().sum() == 0 and out[:, 24:].abs().sum() == 0


def test_imagenet_to_cifar_mapping():
    assert cifar_label("n02123045_tabby.jpg") == 3  # cat
    assert cifar_label("/x/n03095699_container_ship.jpg") == 8
    assert cifar_label("n01440764_tench.jpg") is None
    assert set(WNID_TO_CIFAR.values()) == set(range(10))


@pytest.fixture(scope="module")
def cifar_probe(sample_images_dir):
    pairs = cifar_subset(list_images(sample_images_dir))
    images = torch.stack([load_image(p, 32) for p, _ in pairs])
    return images, torch.tensor([label for _, label in pairs])


@pytest.mark.parametrize("depth", [20, 56])
def test_published_weights_from_hub_cache_classify_real_photos(depth, hub_cache, cifar_probe, monkeypatch):
    monkeypatch.setenv("VISIONCIRCUITS_OFFLINE", "1")  # the cache alone must serve the file
    images, labels = cifar_probe
    assert len(labels) == 52
    model = load_model(f"cifar10-resnet{depth}")
    with torch.no_grad():
        accuracy = (model(images).argmax(1) == labels).float().mean().item()
    assert accuracy >= 0.60, f"ResNet-{depth}: {accuracy:.3f}"  # measured 0.769 for both
    # the normalisation matters: feeding unnormalised input must hurt
    model.preprocess.mean.zero_()
    model.preprocess.std.fill_(1.0)
    with torch.no_grad():
        worse = (model(images).argmax(1) == labels).float().mean().item()
    assert worse < accuracy


def test_missing_published_file_names_url_file_and_dir(empty_hub):
    with pytest.raises(WeightsError) as e:
        load_model("cifar10-resnet110")
    msg = str(e.value)
    assert (
        "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/resnet110-1d1ed7c2.th" in msg
    )
    assert str(empty_hub / "resnet110-1d1ed7c2.th") in msg


def test_corrupted_or_truncated_cached_file_fails_the_hash_check(shared_dir, empty_hub):
    data = (shared_dir / "weights" / PUBLISHED[20]).read_bytes()
    empty_hub.mkdir(parents=True)
    target = empty_hub / PUBLISHED[20]
    for bad in (data[: len(data) // 2], data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]):
        target.write_bytes(bad)
        with pytest.raises(WeightsError, match="hash mismatch"):
            load_model("cifar10-resnet20")


def test_other_depths_weights_are_refused_with_key_lists(shared_dir):
    with pytest.raises(WeightsError) as e:
        load_model("cifar10-resnet20", weights=shared_dir / "weights" / PUBLISHED[56])
    assert "unexpected" in str(e.value) and "layer1.3." in str(e.value)
