"""InceptionV1: Lucid names as hook points, lucent-compatible weights, TF-correct LRN."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from visioncircuits.errors import UnknownNameError, WeightsError
from visioncircuits.zoo import load_model
from visioncircuits.zoo.inceptionv1 import BLOCKS, MAIN_LAYERS, InceptionV1

lucent_inception = pytest.importorskip("lucent.modelzoo.inceptionv1.InceptionV1")
LUCENT_HOOKED = list(MAIN_LAYERS) + ["maxpool0", "softmax2_pre_activation_matmul"]


@pytest.fixture(scope="module")
def lucent_net():
    torch.manual_seed(1)
    net = lucent_inception.InceptionV1(redirected_ReLU=False).eval()
    with torch.no_grad():  # lucent leaves biases at PyTorch's tiny defaults; make them matter
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net


@pytest.fixture(scope="module")
def images():
    """128 px keeps the suite fast; lucent's own avgpool needs 224, so we stop it at mixed5b."""
    torch.manual_seed(2)
    return torch.rand(1, 3, 128, 128)


@pytest.fixture(scope="module")
def lucent_file(lucent_net, tmp_path_factory):
    path = tmp_path_factory.mktemp("inc") / "lucent_random.pth"
    torch.save(lucent_net.state_dict(), path)
    return path


class _FWithLRN:
    """lucent's module-level ``F`` with local_response_norm forced to the TF parameters."""

    def __getattr__(self, name):
        return getattr(F, name)

    @staticmethod
    def local_response_norm(x, size, alpha, beta, k):
        return F.local_response_norm(x, size=11, alpha=0.0011, beta=0.5, k=2.0)


class _Stop(Exception):
    pass


def _lucent_acts(net, x) -> dict[str, torch.Tensor]:
    acts, handles = {}, []

    def grab(name):
        def hook(_m, _i, out):
            acts[name] = out
            if name == "mixed5b":
                raise _Stop

        return hook

    for name in LUCENT_HOOKED:
        handles.append(getattr(net, name).register_forward_hook(grab(name)))
    try:
        with torch.no_grad():
            net(x * 255 - 117)
    except _Stop:
        pass
    finally:
        for h in handles:
            h.remove()
    return acts


@pytest.fixture(scope="module")
def ref_lucent(lucent_net, images):
    return _lucent_acts(lucent_net, images)


@pytest.fixture(scope="module")
def ref_corrected(lucent_net, images):
    original = lucent_inception.F
    lucent_inception.F = _FWithLRN()
    try:
        return _lucent_acts(lucent_net, images)
    finally:
        lucent_inception.F = original


@pytest.fixture(scope="module")
def tf_model(lucent_file):
    return load_model("inceptionv1", weights=lucent_file)


@pytest.fixture(scope="module")
def ours(tf_model, images):
    acts = tf_model.run_with_cache(images, LUCENT_HOOKED)
    acts["logits"] = tf_model(images)
    return acts


def test_state_dict_keys_and_shapes_match_lucent(lucent_net):
    ours = InceptionV1().state_dict()
    theirs = lucent_net.state_dict()
    assert set(ours) == set(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)
    assert "mixed3b_3x3_pre_relu_conv.weight" in ours


def test_equal_to_lucent_until_first_lrn_then_different(ours, ref_lucent):
    assert torch.equal(ours["conv2d0"], ref_lucent["conv2d0"])
    assert torch.equal(ours["maxpool0"], ref_lucent["maxpool0"])
    for layer in ("conv2d1", "conv2d2", "mixed3a", "mixed4a", "mixed5b"):
        diff = (ours[layer] - ref_lucent[layer]).abs().max().item()
        assert diff > 1e-3 * ref_lucent[layer].abs().max().item(), layer


def test_equal_to_lucent_with_corrected_lrn_at_every_main_layer(ours, ref_corrected, lucent_net):
    for layer in MAIN_LAYERS:
        ref = ref_corrected[layer]
        assert torch.allclose(ours[layer], ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item()), layer
    with torch.no_grad():  # lucent's head: global average of mixed5b, then the linear layer
        ref_logits = lucent_net.softmax2_pre_activation_matmul(ref_corrected["mixed5b"].mean((2, 3)))
    assert ours["logits"].shape == (1, 1008)
    assert torch.allclose(ours["logits"], ref_logits, rtol=1e-4, atol=1e-4)


def test_global_avgpool_equals_the_graphs_7x7_pool_at_224():
    from visioncircuits.zoo.inceptionv1 import GlobalAvgPool

    x = torch.randn(2, 1024, 7, 7)
    ref = F.avg_pool2d(x, kernel_size=(7, 7), stride=(1, 1), padding=(0,), ceil_mode=False, count_include_pad=False)
    assert torch.allclose(GlobalAvgPool()(x), ref, atol=1e-6)


def test_lucent_variant_reproduces_lucent(lucent_file, images, ref_lucent):
    model = load_model("inceptionv1-lucent", weights=lucent_file)
    acts = model.run_with_cache(images, ["mixed3b", "mixed5b"])
    for layer in ("mixed3b", "mixed5b"):
        ref = ref_lucent[layer]
        assert torch.allclose(acts[layer], ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item()), layer


def test_tf_lrn_parameters_implement_the_tf_formula():
    """TF: x / (bias + alpha * sum_{|j-i|<=depth_radius} x_j^2) ** beta, radius 5, alpha 1e-4, bias 2."""
    lrn = InceptionV1().localresponsenorm0
    torch.manual_seed(0)
    x = torch.randn(1, 20, 3, 3) * 30
    sq = F.pad(x.pow(2), (0, 0, 0, 0, 5, 5))
    sums = torch.stack([sq[:, i:i + 11].sum(1) for i in range(20)], 1)
    expected = x / (2.0 + 1e-4 * sums) ** 0.5
    assert torch.allclose(lrn(x), expected, rtol=1e-5)


def test_layer_names_and_shapes_at_224(tf_model):
    model = tf_model
    info = model.layer_info(224)
    assert info["conv2d0"].shape == (64, 112, 112)
    assert info["maxpool0"].shape == (64, 56, 56)
    assert info["mixed3a"].shape == (256, 28, 28)
    assert info["mixed3b"].shape == (480, 28, 28)
    assert info["mixed4a"].shape == (508, 14, 14)
    assert info["mixed4e"].shape == (832, 14, 14)
    assert info["mixed5b"].shape == (1024, 7, 7)
    assert info["softmax2_pre_activation_matmul"].shape == (1008,)
    expected = {"conv2d0_pre_relu_conv", "conv2d1", "conv2d2", "maxpool1", "maxpool4", "maxpool10",
                "localresponsenorm0", "localresponsenorm1", "avgpool0", "mixed3a_1x1", "mixed3b_5x5",
                "mixed3b_3x3_bottleneck", "mixed4c_pool_reduce", "mixed5b_pool", "mixed4d_5x5_pre_relu_conv"}
    assert expected <= set(info)
    for block in BLOCKS:
        assert info[block].module_type == "Concat"
    assert info["mixed3b_3x3_bottleneck"].shape == (128, 28, 28)
    assert list(model.spec.main_layers) == ["conv2d0", "conv2d1", "conv2d2", "mixed3a", "mixed3b", "mixed4a",
                                            "mixed4b", "mixed4c", "mixed4d", "mixed4e", "mixed5a", "mixed5b"]
    with pytest.raises(UnknownNameError, match="softmax2_pre_activation_matmul"):
        model.resolve_layer("softmax2")
    assert model.layer_info(128)["mixed5b"].shape == (1024, 4, 4)  # other sizes work


def test_preprocessing_is_x255_minus_117(tf_model):
    pre = tf_model.preprocess
    x = torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3).expand(1, 3, 1, 3)
    assert torch.allclose(pre(x)[0, :, 0], torch.tensor([-117.0, 10.5, 138.0]).expand(3, 3))


def test_published_file_loads_from_hub_cache_offline(empty_hub):
    net = InceptionV1()
    empty_hub.mkdir(parents=True)
    torch.save(net.state_dict(), empty_hub / "inception5h.pth")
    model = load_model("inceptionv1")  # VISIONCIRCUITS_OFFLINE=1: only the cache can serve it
    for (k, a), b in zip(model.net.state_dict().items(), net.state_dict().values()):
        assert torch.equal(a, b), k


def test_missing_published_file_names_url_file_and_dir(empty_hub):
    with pytest.raises(WeightsError) as e:
        load_model("inceptionv1")
    msg = str(e.value)
    assert "ProGamerGov/pytorch-old-tensorflow-models/raw/master/inception5h.pth" in msg
    assert str(empty_hub / "inception5h.pth") in msg
    assert "\n" not in msg


def test_truncated_published_file_is_a_clear_error(empty_hub, tmp_path):
    full = tmp_path / "full.pth"
    torch.save(InceptionV1().state_dict(), full)
    empty_hub.mkdir(parents=True)
    (empty_hub / "inception5h.pth").write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(WeightsError, match="corrupt or truncated"):
        load_model("inceptionv1")


def test_too_small_input_is_a_clear_error(tf_model):
    from visioncircuits.errors import InputError

    with pytest.raises(InputError, match="cannot run on a 8x8 input"):
        tf_model.layer_info(8)


def test_early_exit_skips_everything_after_the_requested_branch(tf_model, images):
    tf_model.layer_info()
    counts, handles = {}, []
    for name, mod in tf_model.net.named_modules():
        if name:
            handles.append(
                mod.register_forward_hook(lambda m, i, o, n=name: counts.__setitem__(n, counts.get(n, 0) + 1))
            )
    try:
        acts = tf_model.run_with_cache(images, "mixed3b_3x3")
    finally:
        for h in handles:
            h.remove()
    assert acts["mixed3b_3x3"].shape == (1, 192, 16, 16)
    assert counts["mixed3b_3x3"] == 1 and counts["mixed3a"] == 1
    order = list(tf_model.layer_info())
    later = order[order.index("mixed3b_3x3") + 1:]
    assert "mixed3b_5x5" in later and "maxpool4" in later and "softmax2_pre_activation_matmul" in later
    assert [n for n in later if counts.get(n)] == []
    assert tf_model.hook_count() == 0
