"""HookedModel: early exit, gradients, scoped hooks that never leak, input checks."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from visioncircuits.errors import InputError, UnknownNameError
from visioncircuits.hooks import HookedModel, check_images
from visioncircuits.zoo import load_model
from visioncircuits.zoo.spec import ModelSpec


def _count_calls(model: HookedModel) -> tuple[dict[str, int], list]:
    counts = {n: 0 for n, _ in model.net.named_modules() if n}
    handles = []
    for name, mod in model.net.named_modules():
        if name:
            handles.append(mod.register_forward_hook(lambda m, i, o, n=name: counts.__setitem__(n, counts[n] + 1)))
    return counts, handles


def test_run_with_cache_returns_the_layer_outputs(tiny_model):
    x = torch.rand(2, 3, 16, 16)
    acts = tiny_model.run_with_cache(x, ["relu2", "relu1"])
    assert list(acts) == ["relu1", "relu2"]  # run order, not request order
    net = tiny_model.net
    with torch.no_grad():
        r1 = torch.relu(net.conv1(tiny_model.preprocess(x)))
        r2 = torch.relu(net.conv2(r1))
    assert torch.allclose(acts["relu1"], r1) and torch.allclose(acts["relu2"], r2)
    assert not acts["relu1"].requires_grad


def test_nothing_after_the_deepest_requested_layer_runs(tiny_model):
    tiny_model.layer_info()  # the one-off trace that learns layer names runs a full pass
    counts, handles = _count_calls(tiny_model)
    try:
        tiny_model.run_with_cache(torch.rand(1, 3, 16, 16), "relu1")
    finally:
        for h in handles:
            h.remove()
    assert counts["conv1"] == 1 and counts["relu1"] == 1
    assert counts["conv2"] == counts["relu2"] == counts["pool"] == counts["fc"] == 0


def test_early_exit_in_a_real_network():
    model = load_model("cifar10-resnet20", weights="random")
    model.layer_info()
    counts, handles = _count_calls(model)
    try:
        acts = model.run_with_cache(torch.rand(1, 3, 32, 32), ["layer1.1", "layer2.0.relu1"])
    finally:
        for h in handles:
            h.remove()
    assert set(acts) == {"layer1.1", "layer2.0.relu1"}
    assert counts["layer2.0.conv1"] == 1 and counts["layer2.0.relu1"] == 1
    ran_after = [
        n
        for n, c in counts.items()
        if c
        and (
            n.startswith(("layer3", "linear", "avgpool"))
            or n == "layer2.1"
            or n.startswith(("layer2.0.conv2", "layer2.0.bn2", "layer2.0.relu2"))
        )
    ]
    assert ran_after == []
    assert model.hook_count() == 0


def test_without_early_exit_everything_runs(tiny_model):
    tiny_model.layer_info()
    counts, handles = _count_calls(tiny_model)
    try:
        tiny_model.run_with_cache(torch.rand(1, 3, 16, 16), "relu1", stop_early=False)
    finally:
        for h in handles:
            h.remove()
    assert counts["fc"] == 1


def test_detach_false_keeps_the_graph(tiny_model):
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    acts = tiny_model.run_with_cache(x, "relu2", detach=False)
    assert acts["relu2"].requires_grad
    acts["relu2"][:, 3].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_no_hook_leaks_after_success_exception_and_tracing(tiny_model):
    x = torch.rand(1, 3, 16, 16)
    assert tiny_model.hook_count() == 0
    tiny_model.layer_info(24)
    tiny_model.run_with_cache(x, ["relu1", "fc"])
    assert tiny_model.hook_count() == 0

    def boom(out, layer):
        raise ValueError("inside a hook")

    with pytest.raises(ValueError, match="inside a hook"):
        tiny_model.run_with_cache(x, "relu2", fwd_hooks=[("relu1", boom)])
    assert tiny_model.hook_count() == 0
    with pytest.raises(ValueError):
        with tiny_model.hooks([("conv1", lambda o, n: None), ("relu1", boom)]):
            assert tiny_model.hook_count() == 2
            tiny_model(x)
    assert tiny_model.hook_count() == 0
    with pytest.raises(UnknownNameError):
        with tiny_model.hooks([("conv1", lambda o, n: None), ("nope", boom)]):
            pass
    assert tiny_model.hook_count() == 0


def test_hooks_can_replace_outputs(tiny_model):
    x = torch.rand(2, 3, 16, 16)
    with tiny_model.hooks([("relu2", lambda out, layer: torch.zeros_like(out))]):
        out = tiny_model(x)
    assert torch.allclose(out, tiny_model.net.fc.bias.expand(2, 3))
    assert not torch.allclose(tiny_model(x), out)


def test_extra_fwd_hooks_affect_the_cached_activations(tiny_model):
    x = torch.rand(1, 3, 16, 16)
    acts = tiny_model.run_with_cache(x, "relu2", fwd_hooks=[("relu1", lambda o, n: o * 0)])
    expected = torch.relu(tiny_model.net.conv2.bias).view(1, -1, 1, 1).expand(1, 6, 16, 16)
    assert torch.allclose(acts["relu2"], expected)


def test_unknown_layer_and_channel_out_of_range(tiny_model):
    with pytest.raises(UnknownNameError, match="closest: relu1"):
        tiny_model.run_with_cache(torch.rand(1, 3, 16, 16), "relu_1")
    with pytest.raises(UnknownNameError, match="closest: conv2"):
        tiny_model.get_module("conv3")
    with pytest.raises(InputError, match="layer 'relu2' of tiny has 6 channels"):
        tiny_model.check_unit("relu2", 6)
    tiny_model.check_unit("relu2", 5)


def test_modules_called_twice_are_not_layers():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2, self.act = nn.Conv2d(3, 4, 1), nn.Conv2d(4, 4, 1), nn.ReLU()

        def forward(self, x):
            return self.act(self.conv2(self.act(self.conv1(x))))

    spec = ModelSpec(name="shared", family="test", description="", build=Shared, input_size=8)
    model = HookedModel(Shared(), spec, spec.preprocess())
    assert model.layer_names() == ["conv1", "conv2"]
    with pytest.raises(UnknownNameError):
        model.run_with_cache(torch.rand(1, 3, 8, 8), "act")


def test_layer_info_shapes_depend_on_size(tiny_model):
    assert tiny_model.layer_info(16)["relu1"].shape == (4, 16, 16)
    assert tiny_model.layer_info(10)["relu2"].shape == (6, 10, 10)
    assert tiny_model.layer_info()["fc"].shape == (3,)
    assert [i.order for i in tiny_model.layer_info().values()] == list(range(len(tiny_model.layer_info())))


@pytest.mark.parametrize("bad,match", [
    (torch.rand(3, 16, 16), "shape"),
    (torch.rand(1, 1, 16, 16), "RGB"),
    (torch.randint(0, 255, (1, 3, 4, 4)), "floating point"),
    (torch.rand(1, 3, 4, 4) * 255, r"\[0, 1\]"),
    (torch.rand(1, 3, 4, 4) - 0.5, r"\[0, 1\]"),
    (torch.full((1, 3, 4, 4), float("nan")), "NaN"),
    ([[0.5]], "torch.Tensor"),
])
def test_check_images_rejects_bad_input(bad, match, tiny_model):
    with pytest.raises(InputError, match=match):
        check_images(bad)
    with pytest.raises(InputError):
        tiny_model(bad)


def test_check_images_accepts_valid_input_and_tiny_rounding():
    check_images(torch.rand(2, 3, 5, 7))
    check_images(torch.ones(1, 3, 2, 2) + 1e-4)


def test_images_on_another_device_are_a_clear_error(tiny_model):
    tiny_model.to("meta")
    with pytest.raises(InputError, match="use images.to\\(model.device\\)"):
        tiny_model(torch.rand(1, 3, 16, 16))


def test_wrap_any_module_infers_classes_and_checks_input():
    net = nn.Sequential(
        nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 4)
    )
    model = HookedModel.wrap(
        net, mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2), input_size=12, name="seq", main_layers=("1",)
    )
    assert model.name == "seq" and model.spec.num_classes == 4 and not model.training
    x = torch.rand(2, 3, 12, 12)
    assert torch.allclose(model(x), net((x - 0.5) / 0.2), atol=1e-6)  # its preprocessing is applied
    assert model.layer_names()[:2] == ["0", "1"]
    with pytest.raises(InputError):
        model(x * 255)  # still RGB in [0, 1]
    with pytest.raises(InputError):
        HookedModel.wrap(net, std=(1.0, 0.0, 1.0))
    with pytest.raises(UnknownNameError):
        HookedModel.wrap(net, input_size=12, main_layers=("nope",))
