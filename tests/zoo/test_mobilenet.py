"""ImageNet MobileNets without ../shared: TF SAME padding, offline loading of the shipped
weights from models/, hook points with their shapes, main layers, class names."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from visioncircuits.errors import UnknownNameError, WeightsError
from visioncircuits.zoo import get_spec, load_model
from visioncircuits.zoo.imagenet_classes import DOG_CLASSES, class_index, imagenet_class_names, imagenet_wnids, is_dog
from visioncircuits.zoo.mobilenet import drop_background
from visioncircuits.zoo.tf_same import SameConv2d, tf_same_pads

REPO = Path(__file__).resolve().parents[2]
NAMES = ("mobilenet-v2", "mobilenet-v1", "mobilenet-v1-0.75-192")
V2_RESIDUAL = {2, 4, 5, 7, 8, 9, 11, 12, 14, 15}  # stride 1 and same width as the input


# ------------------------------------------------------------------ padding
@pytest.mark.parametrize(
    "size,k,s,pads",
    [
        (224, 3, 2, (0, 1)),
        (225, 3, 2, (1, 1)),
        (7, 3, 2, (1, 1)),
        (112, 3, 1, (1, 1)),
        (14, 1, 1, (0, 0)),
        (8, 5, 2, (1, 2)),
        (6, 3, 2, (0, 1)),
    ],
)
def test_tf_same_pads_match_tensorflows_rule(size, k, s, pads):
    assert tf_same_pads(size, k, s) == pads


@pytest.mark.parametrize("h,w", [(224, 224), (9, 12), (7, 7)])
def test_stride2_conv_equals_hand_padded_conv(h, w):
    """TF SAME for a stride-2 3x3 conv: 0 before / 1 after on even sides, 1 / 1 on odd ones."""
    torch.manual_seed(0)
    conv = SameConv2d(4, 6, 3, stride=2)
    x = torch.randn(2, 4, h, w)
    pad_h = (0, 1) if h % 2 == 0 else (1, 1)
    pad_w = (0, 1) if w % 2 == 0 else (1, 1)
    expected = F.conv2d(F.pad(x, (pad_w[0], pad_w[1], pad_h[0], pad_h[1])), conv.weight, conv.bias, stride=2)
    out = conv(x)
    assert out.shape == (2, 6, -(-h // 2), -(-w // 2))
    assert torch.allclose(out, expected, atol=1e-6)
    if h % 2 == 0:  # symmetric padding would shift every output: the test can tell them apart
        sym = F.conv2d(x, conv.weight, conv.bias, stride=2, padding=1)
        assert not torch.allclose(out, sym, atol=1e-3)


def test_depthwise_same_conv_stride1_keeps_size():
    torch.manual_seed(0)
    conv = SameConv2d(5, 5, 3, stride=1, groups=5)
    x = torch.randn(1, 5, 10, 11)
    assert torch.allclose(conv(x), F.conv2d(x, conv.weight, conv.bias, padding=1, groups=5), atol=1e-6)


# ------------------------------------------------------------------ loading
@pytest.mark.parametrize("name", NAMES)
def test_shipped_weights_load_offline_from_models_dir(name, empty_hub):
    """No network, an empty torch.hub cache: the fp16 file committed in models/ is enough."""
    spec = get_spec(name)
    assert Path(spec.default_weights).is_file()
    assert Path(spec.default_weights).resolve().parent == REPO / "models" / "mobilenet"
    model = load_model(name)
    state = load_file(spec.default_weights)
    assert state["classifier.weight"].dtype == torch.float16 and state["classifier.weight"].shape[0] == 1001
    w = model.net.classifier.weight
    assert w.dtype == torch.float32 and w.shape[0] == 1000  # background row dropped, computed in fp32
    assert torch.equal(w, state["classifier.weight"][1:].float())
    assert torch.equal(model.net.stem.weight, state["stem.weight"].float())
    assert not list(empty_hub.parent.glob("**/*.safetensors"))  # nothing was fetched into the cache
    out = model(torch.rand(2, 3, spec.input_size, spec.input_size))
    assert out.shape == (2, 1000) and torch.isfinite(out).all()


def test_model_runs_at_other_input_sizes():
    model = load_model("mobilenet-v2")
    with torch.inference_mode():
        assert model(torch.rand(1, 3, 161, 190)).shape == (1, 1000)
    assert model.layer_info(225)["stem"].shape == (32, 113, 113)


def test_preprocessing_maps_unit_range_to_minus_one_one():
    pre = get_spec("mobilenet-v1").preprocess()
    x = torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1, 1).expand(1, 3, 1, 1)
    assert torch.allclose(pre(torch.zeros(1, 3, 2, 2)), torch.full((1, 3, 2, 2), -1.0))
    assert torch.allclose(pre(torch.ones(1, 3, 2, 2)), torch.ones(1, 3, 2, 2))
    assert torch.allclose(pre(x).flatten(), torch.tensor([-1.0, 0.0, 1.0]))


def test_drop_background_accepts_both_layouts_and_a_wrong_file_fails(tmp_path):
    from safetensors.torch import save_file

    spec = get_spec("mobilenet-v1-0.75-192")
    state = load_file(spec.default_weights)
    thousand = drop_background(state)
    assert thousand["classifier.weight"].shape == (1000, 768) and thousand["classifier.bias"].dtype == torch.float32
    save_file(thousand, str(tmp_path / "v1_075_1000.safetensors"))
    a = load_model("mobilenet-v1-0.75-192", weights=tmp_path / "v1_075_1000.safetensors")
    assert torch.equal(a.net.classifier.bias, state["classifier.bias"][1:].float())
    with pytest.raises(WeightsError, match="do not match"):  # a V1 0.75 file is not a V1 1.0
        load_model("mobilenet-v1", weights=tmp_path / "v1_075_1000.safetensors")
    broken = dict(state)
    del broken["blocks.3.pw.bias"]
    save_file(broken, str(tmp_path / "broken.safetensors"))
    with pytest.raises(WeightsError, match="blocks.3.pw.bias"):
        load_model("mobilenet-v1-0.75-192", weights=tmp_path / "broken.safetensors")


# ------------------------------------------------------------------ hook points
def _v2_expected_shapes() -> dict[str, tuple]:
    """Every hook point of MobileNetV2 at 224 px, written out from the paper's Table 2."""
    shapes = {"stem": (32, 112, 112), "stem_relu6": (32, 112, 112)}
    cin, size, i = 32, 112, 0
    for t, c, n, s in (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ):
        for r in range(n):
            stride = s if r == 0 else 1
            hidden, out_size = cin * t, size // stride
            b = f"blocks.{i}"
            if t != 1:
                shapes[f"{b}.expand"] = shapes[f"{b}.expand_relu6"] = (hidden, size, size)
            shapes[f"{b}.dw"] = shapes[f"{b}.dw_relu6"] = (hidden, out_size, out_size)
            shapes[f"{b}.project"] = (c, out_size, out_size)
            if i in V2_RESIDUAL:
                shapes[f"{b}.add"] = (c, out_size, out_size)
            shapes[b] = (c, out_size, out_size)
            cin, size, i = c, out_size, i + 1
    shapes["blocks"] = shapes["blocks.16"]  # the Sequential of all blocks is a hook point too
    shapes.update({"head": (1280, 7, 7), "head_relu6": (1280, 7, 7), "pool": (1280, 1, 1), "classifier": (1000,)})
    return shapes


def test_every_v2_hook_point_exists_with_its_shape():
    info = load_model("mobilenet-v2", weights="random").layer_info(224)
    expected = _v2_expected_shapes()
    assert {n: i.shape for n, i in info.items()} == expected
    assert list(info)[:6] == ["stem", "stem_relu6", "blocks.0.dw", "blocks.0.dw_relu6", "blocks.0.project", "blocks.0"]


@pytest.mark.parametrize("name,width,size", [("mobilenet-v1", 1.0, 224), ("mobilenet-v1-0.75-192", 0.75, 192)])
def test_every_v1_hook_point_exists_with_its_shape(name, width, size):
    info = load_model(name, weights="random").layer_info()
    ch = lambda c: int(c * width)  # noqa: E731
    expected = {"stem": (ch(32), size // 2, size // 2), "stem_relu6": (ch(32), size // 2, size // 2)}
    cin, s = ch(32), size // 2
    for i, (c, stride) in enumerate(
        (
            (64, 1),
            (128, 2),
            (128, 1),
            (256, 2),
            (256, 1),
            (512, 2),
            (512, 1),
            (512, 1),
            (512, 1),
            (512, 1),
            (512, 1),
            (1024, 2),
            (1024, 1),
        )
    ):
        s //= stride
        expected[f"blocks.{i}.dw"] = expected[f"blocks.{i}.dw_relu6"] = (cin, s, s)
        expected[f"blocks.{i}.pw"] = expected[f"blocks.{i}.pw_relu6"] = expected[f"blocks.{i}"] = (ch(c), s, s)
        cin = ch(c)
    expected.update({"blocks": expected["blocks.12"], "pool": (cin, 1, 1), "classifier": (1000,)})
    assert {n: i.shape for n, i in info.items()} == expected


def test_residual_sum_hook_is_the_block_input_plus_the_projection():
    model = load_model("mobilenet-v2")
    x = torch.rand(2, 3, 96, 96)
    acts = model.run_with_cache(x, ["blocks.3", "blocks.4.project", "blocks.4.add", "blocks.4"])
    assert torch.allclose(acts["blocks.4.add"], acts["blocks.3"] + acts["blocks.4.project"], atol=1e-5)
    assert torch.equal(acts["blocks.4"], acts["blocks.4.add"])
    acts = model.run_with_cache(x, ["blocks.3.project", "blocks.3"])  # block 3 changes stride: no sum
    assert torch.equal(acts["blocks.3"], acts["blocks.3.project"])


def test_relu6_points_are_clipped_and_ablation_hooks_change_the_output():
    model = load_model("mobilenet-v1")
    x = torch.rand(2, 3, 128, 128)
    acts = model.run_with_cache(x, ["blocks.5.dw", "blocks.5.dw_relu6"])
    assert acts["blocks.5.dw"].max() > 6 or acts["blocks.5.dw"].min() < 0  # the conv is pre-activation
    assert torch.equal(acts["blocks.5.dw_relu6"], acts["blocks.5.dw"].clamp(0, 6))
    base = model(x)
    ablated = model.run_with_hooks(x, [("blocks.5.dw_relu6", lambda out, layer: out * 0)])
    assert not torch.allclose(base, ablated)


@pytest.mark.parametrize("name", NAMES)
def test_main_layers_are_block_outputs_at_every_resolution(name):
    model = load_model(name, weights="random")
    main = model.spec.main_layers
    info = model.layer_info()
    assert all(layer in info for layer in main)
    orders = [info[layer].order for layer in main]
    assert orders == sorted(orders)
    sizes = [info[layer].shape[-1] for layer in main]
    native = model.spec.input_size
    # every spatial resolution of the network appears, from input/2 down to input/32
    assert sorted(set(sizes), reverse=True) == [native // 2**k for k in range(1, 6)]
    assert main[-1] in (("head_relu6",) if "v2" in name else ("blocks.12",))


# ------------------------------------------------------------------ classes
def test_imagenet_classes_names_wnids_and_dogs():
    names, wnids = imagenet_class_names(), imagenet_wnids()
    assert len(names) == len(wnids) == 1000
    assert list(wnids) == sorted(wnids) and len(set(wnids)) == 1000
    assert (names[0], wnids[0]) == ("tench", "n01440764")
    assert (names[999], wnids[999]) == ("toilet tissue", "n15075141")
    assert names[281] == "tabby" and wnids[281] == "n02123045"
    assert len(DOG_CLASSES) == 118 and names[151] == "Chihuahua" and names[268] == "Mexican hairless"
    assert not is_dog(150) and not is_dog(269) and names[269] == "timber wolf" and is_dog(207)
    assert names[207] == "golden retriever"
    assert class_index("n02099601") == 207 and class_index("golden retriever") == 207
    with pytest.raises(UnknownNameError, match="golden retriever"):
        class_index("golden retreiver")
    for name in NAMES:
        assert tuple(get_spec(name).class_names) == names and get_spec(name).num_classes == 1000
