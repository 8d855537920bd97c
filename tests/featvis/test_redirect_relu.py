"""Redirected ReLU gradients: dead units come alive, true values reported, everything restored."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from visioncircuits.errors import InputError
from visioncircuits.featvis import render, render_diverse
from visioncircuits.featvis.redirect import redirect_relus, redirected_relu
from visioncircuits.featvis.render import redirect_steps


class DeadNet(nn.Module):
    """conv1 (fixed, positive) -> relu1 -> 1x1 conv2 with a large negative bias -> relu2.

    On a near-grey image relu2:0 is exactly 0 everywhere (conv2 is about -1.5), so it gets
    no gradient; a bright image (pixels -> 1) drives it to about +1.5.
    """

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 2, 1)
        self.relu1 = nn.ReLU(inplace=inplace)
        self.conv2 = nn.Conv2d(2, 2, 1)
        self.relu2 = nn.ReLU(inplace=inplace)
        self.act6 = nn.ReLU6()
        with torch.no_grad():
            self.conv1.weight.fill_(1.0)  # input is (x - 0.5) / 0.25: grey -> 0, white -> 2 per colour
            self.conv1.bias.fill_(0.0)
            self.conv2.weight.fill_(0.25)
            self.conv2.bias.copy_(torch.tensor([-1.5, 0.5]))

    def forward(self, x):
        return self.act6(self.relu2(self.conv2(self.relu1(self.conv1(x)))))


def make_dead(inplace: bool = False):
    from visioncircuits.hooks import HookedModel

    return HookedModel.wrap(DeadNet(inplace), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), input_size=16, name="dead",
                            num_classes=2, main_layers=("relu2",))


@pytest.mark.parametrize("inplace", [False, True])
def test_dead_unit_comes_alive_only_with_redirection(inplace):
    model = make_dead(inplace)
    start = render(model, ["relu2:0"], steps=0, size=16, progress=False)
    assert start.values == [0.0]  # dead at init
    off = render(model, ["relu2:0"], steps=30, size=16, redirect_relu=False, progress=False)
    on = render(model, ["relu2:0"], steps=30, size=16, redirect_relu=15, progress=False)
    assert off.values == [0.0] and off.redirect_steps == 0
    # alive: 0.03..0.07 over seeds 0-5 (the off run stays exactly 0)
    assert on.values[0] > 0.02 and on.redirect_steps == 15
    # the reported value is the true objective on the final image
    acts = model.run_with_cache(on.images, ["relu2"])
    assert on.values[0] == pytest.approx(acts["relu2"][0, 0].mean().item(), rel=1e-4, abs=1e-6)


def test_redirection_is_per_image_and_live_units_keep_true_gradient():
    model = make_dead()
    x = torch.full((2, 3, 4, 4), 0.6)  # relu1 alive everywhere, relu2:0 dead, relu2:1 alive
    for layer_unit in (0, 1):
        grads = []
        for redirect in (False, True):
            img = x.clone().requires_grad_(True)
            with redirect_relus(model, enabled=redirect):
                out = model.run_with_cache(img, ["relu2"], detach=False)["relu2"]
                (-out[:, layer_unit].mean()).backward()  # the loss the optimiser minimises
            grads.append(img.grad)
        if layer_unit == 1:  # alive: identical gradients
            assert torch.equal(grads[0], grads[1])
        else:  # dead: zero without; with redirection, descent makes the image brighter
            assert grads[0].abs().sum() == 0
            assert (grads[1] < 0).all()


def test_redirected_relu_backward_rule():
    x = torch.tensor([[-1.0, 2.0, -3.0], [-1.0, -2.0, -3.0]], requires_grad=True)
    g = torch.tensor([[-1.0, -1.0, 1.0], [-1.0, 1.0, -2.0]])  # grad of a loss that is minimised
    (y,) = [redirected_relu(x)]
    assert torch.equal(y, torch.relu(x))
    y.backward(g)
    # row 0 passes a true gradient (x=2 > 0): true ReLU gradient; row 1 is silent: redirected,
    # i.e. only the parts that would raise a negative input (g < 0)
    assert torch.equal(x.grad, torch.tensor([[0.0, -1.0, 0.0], [-1.0, 0.0, -2.0]]))


def test_hooks_modules_and_weight_grads_restored(tiny_model):
    model = make_dead(inplace=True)
    types = [type(m) for m in model.modules()]
    before = model.hook_count()
    render(model, ["relu2:0", "relu1:1"], steps=4, size=16, progress=False)
    render_diverse(model, "relu2:0", n=2, steps=3, size=16, progress=False)
    assert model.hook_count() == before == 0
    assert [type(m) for m in model.modules()] == types
    assert all(p.grad is None for p in model.parameters())
    render(tiny_model, ["relu2:0", "logit:1"], steps=3, size=16, progress=False)
    assert tiny_model.hook_count() == 0 and all(p.grad is None for p in tiny_model.parameters())


def test_hooks_removed_after_an_exception():
    model = make_dead()

    class Boom(RuntimeError):
        pass

    def explode(out, layer):
        if out.requires_grad:  # not during the no-grad shape trace: inside the optimisation
            raise Boom
        return None

    with pytest.raises(Boom):
        with model.hooks([("conv2", explode)]):
            render(model, ["relu2:0"], steps=3, size=16, progress=False)
    assert model.hook_count() == 0
    with pytest.raises(Boom):
        with redirect_relus(model) as rr:
            assert len(rr.modules) == 3  # relu1, relu2, act6: forward replaced on the instance
            assert all("forward" in m.__dict__ for m in (model.net.relu1, model.net.relu2, model.net.act6))
            raise Boom
    assert model.hook_count() == 0
    assert not any("forward" in m.__dict__ for m in model.net.modules())  # the class's forward again


def test_other_hooks_still_see_and_replace_the_output():
    model = make_dead()
    x = torch.full((1, 3, 4, 4), 0.5)
    with redirect_relus(model):
        with model.hooks([("relu2", lambda out, layer: out + 7.0)]):
            y = model(x.requires_grad_(True))
    assert y.min().item() == pytest.approx(6.0)  # ReLU6 after relu2 + 7 (spliced output kept)


def test_redirect_steps_resolution():
    assert redirect_steps(True, 256) == 16 and redirect_steps(True, 24) == 12
    assert redirect_steps(False, 256) == 0 and redirect_steps(0, 10) == 0
    assert redirect_steps(40, 30) == 30 and redirect_steps(0.25, 64) == 16
    with pytest.raises(InputError):
        redirect_steps(-1, 10)
    with pytest.raises(InputError):
        redirect_steps("yes", 10)


def test_cli_switches(tmp_path, capsys):
    import json

    from visioncircuits.cli import main

    base = ["--weights", "random", "--steps", "4", "--size", "16", "--quiet"]
    out = tmp_path / "r"
    assert (
        main(
            [
                "render",
                "cifar10-resnet20",
                "layer1.0:3",
                "--no-redirect-relu",
                "--init-sd",
                "0.5",
                "--out",
                str(out),
                *base,
            ]
        )
        == 0
    )
    rec = json.loads((out / "render.json").read_text())
    assert rec["redirect_relu_steps"] == 0 and rec["init_sd"] == 0.5
    assert main(["render", "cifar10-resnet20", "layer1.0:3", "--redirect-steps", "3", "--out", str(out), *base]) == 0
    assert json.loads((out / "render.json").read_text())["redirect_relu_steps"] == 3
    capsys.readouterr()
    for bad in (["--redirect-steps", "-1"], ["--param", "maco", "--init-sd", "0.5"]):
        assert main(["render", "cifar10-resnet20", "layer1.0:3", "--out", str(tmp_path / "x"), *base, *bad]) == 2
        assert capsys.readouterr().err.startswith("error:")
    g = tmp_path / "g"
    assert (
        main(
            ["gallery", "cifar10-resnet20", "layer1.0", "--units", "0:1", "--no-redirect-relu", "--out", str(g), *base]
        )
        == 0
    )
    assert json.loads((g / "gallery.json").read_text())["settings"]["redirect_relu_steps"] == 0


@pytest.mark.parametrize("module", [nn.ReLU(), nn.ReLU6(), nn.ReLU(inplace=True)])
def test_redirected_module_gradient_matches_the_rule_and_is_true_when_alive(module):
    """The module path (forward replaced) against an explicit statement of Lucid's rule."""
    torch.manual_seed(0)
    hi = 6.0 if isinstance(module, nn.ReLU6) else None
    x = torch.randn(3, 4, 5, 5) * 4
    x[1] = -x[1].abs() - 0.1  # image 1: nothing passes the true gradient
    if hi is not None:
        x[2] = x[2].abs() + 6.5  # image 2: all saturated above
    g = torch.randn_like(x)
    xr = x.clone().requires_grad_(True)
    with redirect_relus(nn.Sequential(module)):
        y = nn.Sequential(module)(xr)
    y.backward(g)
    inside = (x > 0) & ((x < hi) if hi is not None else True)
    true = torch.where(inside, g, 0.0)
    escape = ((x <= 0) & (g < 0)) | (((x >= hi) & (g > 0)) if hi is not None else False)
    silent = true.flatten(1).abs().amax(1) == 0
    want = torch.where(silent[:, None, None, None], torch.where(inside | escape, g, 0.0), true)
    assert silent.tolist() == [False, True, hi is not None]
    assert torch.equal(xr.grad, want)
    assert torch.equal(y, x.clamp(0, hi))
