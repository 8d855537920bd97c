"""torchvision: / timm: adapters: specs from library metadata, safe loading, clear errors."""
from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from safetensors.torch import save_file

from visioncircuits.errors import UnknownNameError, WeightsError
from visioncircuits.zoo import get_spec, load_model


def test_torchvision_spec_comes_from_default_weights():
    spec = get_spec("torchvision:resnet18")
    assert spec.url == "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    assert spec.filename == "resnet18-f37072fd.pth" and spec.sha256 == "f37072fd"
    assert tuple(spec.mean) == (0.485, 0.456, 0.406) and tuple(spec.std) == (0.229, 0.224, 0.225)
    assert spec.input_size == 224 and spec.extra["resize_size"] == [256]
    assert spec.class_names[0] == "tench" and spec.num_classes == 1000
    assert tuple(spec.main_layers) == ("layer1", "layer2", "layer3", "layer4")
    assert get_spec("torchvision:inception_v3").input_size == 299


def test_torchvision_main_layers_per_family():
    assert get_spec("torchvision:googlenet").main_layers[0] == "inception3a"
    assert get_spec("torchvision:googlenet").main_layers[-1] == "inception5b"
    vgg = get_spec("torchvision:vgg16").main_layers
    assert len(vgg) == 13 and vgg[0] == "features.1" and vgg[-1] == "features.29"  # the 13 conv ReLUs
    assert get_spec("torchvision:vit_b_16").main_layers[0] == "encoder.layers.encoder_layer_0"
    assert get_spec("torchvision:regnet_y_400mf").main_layers == ("trunk_output.block1", "trunk_output.block2",
                                                                  "trunk_output.block3", "trunk_output.block4")


def test_unknown_names_suggest_the_closest():
    with pytest.raises(UnknownNameError, match="closest: torchvision:resnet50"):
        get_spec("torchvision:resnet51")
    with pytest.raises(UnknownNameError, match="closest: timm:resnet50"):
        get_spec("timm:resnet5O")
    with pytest.raises(UnknownNameError, match="torchvision:resnet50"):
        get_spec("torchvison:resnet50")


def test_googlenet_file_with_aux_heads_loads_and_matches_torchvision(tmp_path):
    """torchvision's googlenet file carries aux heads and expects transform_input=True."""
    torch.manual_seed(0)
    ref = torchvision.models.googlenet(weights=None, aux_logits=True, transform_input=True, init_weights=False).eval()
    torch.save(ref.state_dict(), tmp_path / "googlenet.pth")
    model = load_model("torchvision:googlenet", weights=tmp_path / "googlenet.pth")
    x = torch.rand(1, 3, 112, 112)
    normalise = torchvision.transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    with torch.no_grad():
        ref.aux_logits = False
        expected = ref(normalise(x))
        got = model(x)
    assert torch.allclose(got, expected, atol=1e-5)
    acts = model.run_with_cache(x, ["inception3a", "inception4e"])
    assert acts["inception3a"].shape[1] == 256 and acts["inception4e"].shape[1] == 832


def test_torchvision_published_file_goes_through_the_hash_check(empty_hub):
    with pytest.raises(WeightsError) as e:
        load_model("torchvision:squeezenet1_1")
    assert "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth" in str(e.value)
    assert str(empty_hub / "squeezenet1_1-b8a52dc0.pth") in str(e.value)
    empty_hub.mkdir(parents=True)  # a file under the published name that is not the published file
    torch.save(torchvision.models.squeezenet1_1().state_dict(), empty_hub / "squeezenet1_1-b8a52dc0.pth")
    with pytest.raises(WeightsError, match="hash mismatch"):
        load_model("torchvision:squeezenet1_1")


def test_timm_spec_from_pretrained_cfg():
    spec = get_spec("timm:vit_tiny_patch16_224")
    assert tuple(spec.mean) == (0.5, 0.5, 0.5) and spec.input_size == 224
    assert spec.extra["hf_hub_id"].startswith("timm/vit_tiny_patch16_224")
    assert spec.main_layers[0] == "blocks.0" and len(spec.main_layers) == 12
    rn = get_spec("timm:resnet18")
    assert tuple(rn.main_layers) == ("act1", "layer1", "layer2", "layer3", "layer4")  # timm's feature_info
    assert rn.class_names is not None and rn.class_names[0] == "tench" and len(rn.class_names) == 1000


def test_timm_offline_without_cache_names_the_hub_id_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONCIRCUITS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(WeightsError) as e:
        load_model("timm:mobilenetv3_small_050")
    msg = str(e.value)
    assert "timm/mobilenetv3_small_050" in msg and str(tmp_path / "hf") in msg and "weights=PATH" in msg


def test_timm_loader_failures_become_weights_errors(tmp_path, monkeypatch):
    import timm.models

    def fail(*a, **k):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(timm.models, "load_pretrained", fail)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    # the session-wide offline switch would stop before the (mocked, network-free) loader runs
    monkeypatch.delenv("VISIONCIRCUITS_OFFLINE", raising=False)
    with pytest.raises(WeightsError, match="OSError: We couldn't connect"):
        load_model("timm:mobilenetv3_small_050")


def test_timm_local_safetensors_file(tmp_path):
    torch.manual_seed(0)
    ref = timm.create_model("mobilenetv3_small_050").eval()
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(tmp_path / "m.safetensors"))
    model = load_model("timm:mobilenetv3_small_050", weights=tmp_path / "m.safetensors")
    x = torch.rand(2, 3, 64, 64)
    mean = torch.tensor(ref.pretrained_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(ref.pretrained_cfg["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(model(x), ref((x - mean) / std), atol=1e-5)
