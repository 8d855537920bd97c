"""On the toy zoo, class circuits recover the classes' ground-truth primitives."""

from __future__ import annotations

from pathlib import Path

import pytest

from visioncircuits.errors import InputError

MODEL = "toy-vgg-s0"


@pytest.fixture(scope="module")
def toy_model():
    from visioncircuits.zoo import load_model

    return load_model(MODEL)


def test_precision_at_k_on_hand_made_scores():
    """Unit j carries primitive j. Each class excites its first primitive's unit (3), one foreign unit
    (`checker`, in no class: 2) and inhibits its second primitive's unit (-5); the rest are 0."""
    import torch

    from visioncircuits.circuits.toy import precision_at_k
    from visioncircuits.toyworld import CLASS_PRIMITIVES, CLASSES, PRIMITIVES

    scores = torch.zeros(len(CLASSES), len(PRIMITIVES))
    for c, name in enumerate(CLASSES):
        prims = CLASS_PRIMITIVES[name]
        scores[c, PRIMITIVES.index(prims[0])] = 3.0
        scores[c, PRIMITIVES.index("checker")] = 2.0
        scores[c, PRIMITIVES.index(prims[1])] = -5.0
    best = list(PRIMITIVES)
    p1 = precision_at_k(scores, best, 1, "L")
    assert p1.mean == 1.0 and p1.ceiling == 1.0
    assert [c.units for c in p1.classes] == [[f"L:{PRIMITIVES.index(CLASS_PRIMITIVES[n][0])}"] for n in CLASSES]
    # two excitatory units per class, one of them foreign: 1/2 whatever k >= 2 asks for (zeros are no edge)
    for k in (2, 3, "auto"):
        pk = precision_at_k(scores, best, k, "L")
        assert [c.precision for c in pk.classes] == [0.5] * len(CLASSES), k
        assert all(
            f"L:{PRIMITIVES.index(CLASS_PRIMITIVES[c.cls][1])}" not in c.units for c in pk.classes
        )  # inhibitory: never
    # chance: the share of the 26 units labelled with one of the class's primitives (face: 3 of 26)
    assert precision_at_k(scores, best, 2, "L").classes[0].chance == pytest.approx(3 / 26)
    # a layer with no unit for the class's primitives caps what any ranking can reach
    only_box = ["box" if p == "box" else "checker" for p in PRIMITIVES]
    car = precision_at_k(scores, only_box, 2, "L").classes[CLASSES.index("car")]
    assert car.ceiling == 0.5 and car.precision == 0.5  # box unit + checker unit


def _published():
    import json

    path = Path(__file__).resolve().parents[2] / "results" / "circuits_toy.json"
    return json.loads(path.read_text())["values"]


def _published_models() -> list[str]:
    return list(_published()["models"])


@pytest.mark.slow  # ~5 s of CPU per model
@pytest.mark.parametrize("name", _published_models())
def test_class_circuits_match_the_published_precision(name):
    """The computation of scripts/reproduce_circuits_toy.py, for every toy model it measured and both
    methods, near the published values (README and docs/readme/circuits.md quote them)."""
    from visioncircuits.circuits.toy import class_scores, precision_at_k
    from visioncircuits.device import deterministic
    from visioncircuits.toyworld import CLASSES
    from visioncircuits.toyworld.labels import label_units
    from visioncircuits.zoo import load_model

    pub = _published()
    model = load_model(name)
    layer = model.spec.extra["primitive_layer"]
    with deterministic(threads=1):
        best = [x.primitive for x in label_units(model, layer, n=pub["n_label"])]
        for method in ("weights", "attribution"):
            scores = class_scores(model, layer, method, n_images=pub["n_images"])
            for k in (1, 2, 3, "auto"):
                p = precision_at_k(scores, best, k, layer)
                assert [c.cls for c in p.classes] == CLASSES
                assert p.mean == pytest.approx(pub["models"][name][method][str(k)]["mean"], abs=0.051), (
                    method,
                    k,
                    p.as_row(),
                )
    assert p.mean >= 1.5 * p.chance  # attribution at k = #primitives: well above random units


def test_demo_stage_draws_the_car_circuit(toy_model, tmp_path):
    from visioncircuits.demo import DemoContext
    from visioncircuits.demo.stage_30_circuits import run

    arts = run(DemoContext(out=tmp_path, quick=True))
    html = (tmp_path / arts[0].href).read_text()
    assert "kernel-tooltip" in html and "car" in html
    assert (tmp_path / "circuits" / "precision.json").exists()
    # quick mode labels on 120 images; the published weights precision@3 of toy-vgg-s0 (1,000 images) is near
    assert arts[2].metrics["precision@3"][f"{MODEL} weights"] == pytest.approx(
        _published()["models"][MODEL]["weights"]["3"]["mean"], abs=0.2
    )


def test_precision_needs_a_toy_model(tiny_model):
    from visioncircuits.circuits.toy import class_primitive_precision

    with pytest.raises(InputError, match="not a toy-zoo model"):
        class_primitive_precision(tiny_model)
