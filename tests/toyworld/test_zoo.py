"""Every committed toy checkpoint loads through the zoo and is >= 95% accurate on fresh images."""
import json
from pathlib import Path

import pytest
import torch

from visioncircuits.toyworld import CLASSES, generate
from visioncircuits.toyworld.evaluate import accuracy
from visioncircuits.zoo import get_spec, list_models, load_model
from visioncircuits.zoo.toy import MODELS_DIR, toy_names

COMMITTED = [n for n in toy_names() if (MODELS_DIR / f"{n}.safetensors").exists()]
UNSUPERVISED = [n for n in toy_names(supervised=False) if (MODELS_DIR / f"{n}.safetensors").exists()]


@pytest.fixture(scope="module")
def fresh():
    """Held-out images from a seed no training run used, shared by every checkpoint test."""
    return generate(150, seed=123_456_789)


@torch.no_grad()
def acc(model, batch) -> float:
    return (model(batch.images).argmax(1) == batch.labels).float().mean().item()


def test_zoo_registers_every_toy_model():
    names = {s.name for s in list_models()}
    assert set(toy_names()) <= names
    archs = {get_spec(n).extra["arch"] for n in toy_names()}
    assert {"vgg", "resnet", "inception", "narrow"} <= archs
    for n in toy_names():
        spec = get_spec(n)
        assert spec.class_names == tuple(CLASSES) and spec.input_size == 64 and spec.num_classes == len(CLASSES)
        assert Path(spec.default_weights).parent == MODELS_DIR and spec.extra["primitive_layer"] in spec.main_layers


def test_at_least_one_checkpoint_is_committed():
    assert "toy-vgg-s0" in COMMITTED
    assert {"toy-vgg-u-s0", "toy-resnet-u-s1"} <= set(UNSUPERVISED)  # the demo's universality pair


def test_unsupervised_zoo_is_registered_and_honestly_carded():
    for n in toy_names(supervised=False):
        spec = get_spec(n)
        assert "-u-s" in n and spec.extra["supervised"] is False and "unsupervised" in spec.description
        assert spec.main_layers == get_spec(n.replace("-u-", "-")).main_layers
    for n in UNSUPERVISED:
        meta = json.loads((MODELS_DIR / f"{n}.json").read_text())
        card = (MODELS_DIR / f"{n}.md").read_text()
        assert meta["supervised"] is False and meta["aux_weight"] == 0.0
        assert "class loss only" in card and "--unsupervised" in card and "Built in" not in card
    for n in COMMITTED:
        assert "supervised" in (MODELS_DIR / f"{n}.md").read_text()


@pytest.mark.parametrize("name", COMMITTED + UNSUPERVISED)
def test_checkpoint_loads_and_is_accurate(name, fresh):
    model = load_model(name)
    for layer in model.spec.main_layers:
        model.resolve_layer(layer)
    assert acc(model, fresh) >= 0.95
    card = MODELS_DIR / f"{name}.md"
    meta = json.loads((MODELS_DIR / f"{name}.json").read_text())
    assert card.exists() and f"toyworld train {meta['arch']} --seed {meta['seed']}" in card.read_text()
    assert meta["accuracy"] >= 0.95
    assert (MODELS_DIR / f"{name}.safetensors").stat().st_size < 2_000_000


def test_random_weights_are_not_accurate(fresh):
    """The accuracy check can fail: an untrained net is near chance."""
    model = load_model("toy-vgg-s0", weights="random")
    assert acc(model, fresh) < 0.4
    assert accuracy(model, n=20) < 0.6  # the library's held-out accuracy agrees


def test_every_relu_is_its_own_hook_point():
    model = load_model("toy-inception-s0", weights="random")
    relus = [n for n, m in model.net.named_modules() if isinstance(m, torch.nn.ReLU)]
    info = model.layer_info()
    assert relus and all(r in info for r in relus)
    assert info["mixed3"].shape == (26, 16, 16) and "mixed3.branch5.3" in info


def test_curve_units_have_tuning_curves_peaked_at_their_orientation():
    """On the curve probe set, the supervised curve units of toy-resnet-s0 peak at (or next to) their angle."""
    from visioncircuits.toyworld import PRIMITIVES, probe_set
    from visioncircuits.toyworld.models import PRIMITIVE_CHANNELS

    ps = probe_set("curve", steps=16, radii=(6.0,))
    model = load_model("toy-resnet-s0")
    acts = model.run_with_cache(ps.images, ["block2.relu2"])["block2.relu2"].amax((2, 3))
    hits = 0
    for ang in range(0, 360, 45):
        ch = PRIMITIVE_CHANNELS["resnet"][PRIMITIVES.index(f"curve_{ang}deg")]
        peak = ps.column("orientation")[int(acts[:, ch].argmax())]
        hits += min(abs(peak - ang), 360 - abs(peak - ang)) <= 22.5
    assert hits >= 7
